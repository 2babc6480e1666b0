// Precompiled header shared by every target. LibTorch's headers take ~10 s per translation
// unit to parse on the reference machine; parsing them once here keeps rebuilds fast.
#pragma once
#include <torch/torch.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
