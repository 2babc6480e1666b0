// Finiteness of tensors: the checks that keep NaN and Inf out of results (docs/reliability.md,
// families "non-finite training" and "model loading").
//
// Checking a large tensor with isfinite() allocates a bool tensor of the same size; these
// helpers go through it in slices, so checking a 500M-entry embedding costs one pass over the
// data and a few MB, never a second copy of it.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace rlhf {

// True when every value of `t` is finite (integer and bool tensors always are).
bool all_finite(const at::Tensor& t);
// How many values of `t` are NaN or ±Inf (for messages; 0 for integer and bool tensors).
std::int64_t count_non_finite(const at::Tensor& t);

}  // namespace rlhf
