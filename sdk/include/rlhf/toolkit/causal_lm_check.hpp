// Checking a model folder the way load_causal_lm() will read it, without reading a weight:
// what `rlhf-host --check` runs for every model a pipeline loads, so a broken checkpoint fails
// there with the message the run would print.
#pragma once

#include <ATen/core/TensorBody.h>

#include <filesystem>
#include <memory>
#include <string>

#include "rlhf/toolkit/causal_lm.hpp"

namespace rlhf {

class SafetensorsCheckpoint;
struct SafetensorsEntry;

// Tensor `name` of the checkpoint in model folder `dir`, as the loader needs a dense weight:
// present, of `shape` (what config.json implies), and of a floating-point dtype. Throws
// rlhf::Error naming the folder or file and the tensor. load_causal_lm() reads every dense
// weight through it.
const SafetensorsEntry& expect_checkpoint_tensor(const SafetensorsCheckpoint& checkpoint,
                                                 const std::filesystem::path& dir,
                                                 const std::string& name, at::IntArrayRef shape);

// Everything load_causal_lm(dir, options) validates before it reads weights: the folder,
// config.json (ModelConfig), every safetensors header (JSON, dtypes, offsets inside the file,
// tiling), every tensor the config needs (expect_checkpoint_tensor) and no tensor it does not
// use (check_all_tensors_used). Only headers are read (except a tied lm_head.weight, compared
// with the embeddings). Weights that are not finite are found only when they are read.
// With options.quantizer, a projection whose `.weight` is stored in a non-float dtype is taken to
// be that quantizer's pre-quantized layout and left to it at load. Returns the model's
// structure with unallocated (meta) weights, for checks that need its modules (an adapter's
// target_modules); it cannot run a forward.
std::shared_ptr<CausalLM> check_causal_lm(const std::filesystem::path& dir,
                                          const LoadOptions& options = {});

}  // namespace rlhf
