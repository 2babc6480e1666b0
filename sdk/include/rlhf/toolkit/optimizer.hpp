// The optimizer every algorithm trains with: AdamW (Loshchilov & Hutter, arXiv 1711.05101)
// as PyTorch's torch.optim.AdamW, which is what Hugging Face Trainer uses by default.
//
// Parameters with two or more dimensions (matrices: LoRA A/B, projections, embeddings) get
// `weight_decay`; vectors (norm weights, biases) get none, as Trainer's decay/no-decay split.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/adamw.h>

namespace rlhf {

struct TrainingConfig;

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// AdamW over `params` with lr / betas / eps / weight_decay from `config`. Parameter groups:
// [0] = decayed (dim >= 2), [1] = not decayed; empty groups are left out.
std::unique_ptr<torch::optim::AdamW> make_adamw(const NamedTensors& params,
                                                const TrainingConfig& config);

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Scales the gradients so their global L2 norm is at most `max_norm` (no-op when max_norm is
// 0) and returns the norm before clipping (torch.nn.utils.clip_grad_norm_).
double clip_grad_norm(const NamedTensors& params, double max_norm);

}  // namespace rlhf
