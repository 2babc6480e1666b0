// The rotary inverse frequencies of a model config, with its rope_scaling applied where it acts
// on the frequencies (llama3) — shared by the decoder's rotary tables and the tests that check
// them against hand-computed values (docs/formats.md, "Model computation").
#pragma once

#include <torch/torch.h>

#include "rlhf/toolkit/model_config.hpp"

namespace rlhf::detail {

// inv_freq [hd/2] in float32 on `device`.
torch::Tensor rope_inverse_frequencies(const ModelConfig& config, torch::Device device);

}  // namespace rlhf::detail
