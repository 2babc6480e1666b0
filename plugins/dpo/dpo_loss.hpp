// The DPO family of preference losses.
//
// Direct Preference Optimization: Your Language Model is Secretly a Reward Model
// (Rafailov et al. 2023, https://arxiv.org/abs/2305.18290): "we can optimize the policy
// directly with a simple binary cross-entropy objective". With policy π_θ, reference π_ref,
// chosen y_w and rejected y_l (docs/algorithms.md, "DPO"):
//
//   pi_logratios  = log π_θ(y_w|x) − log π_θ(y_l|x)
//   ref_logratios = log π_ref(y_w|x) − log π_ref(y_l|x)      (0 when reference-free)
//   logits        = pi_logratios − ref_logratios             (h in docs/algorithms.md)
//
//   sigmoid  −(1−ε)·logσ(β·h) − ε·logσ(−β·h)                 (cDPO label smoothing ε)
//   robust   (−(1−ε)·logσ(β·h) + ε·logσ(−β·h)) / (1 − 2ε)    (Chowdhury et al. 2024, arXiv
//   2403.00409) hinge    relu(1 − β·h)                                    (SLiC, Zhao et al. 2023,
//   arXiv 2305.10425) ipo      (h − 1/(2β))², h from length-normalised log-probs (Azar et al. 2023,
//   arXiv 2310.12036)
//
// Implicit rewards are always from summed log-probs and detached:
//   chosen_rewards = β·(log π_θ(y_w) − log π_ref(y_w)), rejected_rewards likewise.
// Checked against TRL's DPOTrainer.dpo_loss (trl/trainer/dpo_trainer.py).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace rlhf::dpo {

enum class LossType { sigmoid, robust, hinge, ipo };

// "sigmoid" | "robust" | "hinge" | "ipo"; anything else throws rlhf::Error listing them.
LossType loss_type_from_string(const std::string& name);
const char* to_string(LossType type);

// Log-probs of a batch of P pairs under one policy, each [P].
struct ChosenRejectedLogps {
  at::Tensor chosen;  // summed over completion tokens
  at::Tensor rejected;
  at::Tensor chosen_mean;  // length-normalised (IPO)
  at::Tensor rejected_mean;
};

struct DpoLossOutput {
  at::Tensor losses;            // [P] per-pair loss
  at::Tensor chosen_rewards;    // [P] detached
  at::Tensor rejected_rewards;  // [P] detached
};

// `reference` is ignored (treated as 0) when `reference_free`.
DpoLossOutput dpo_loss(const ChosenRejectedLogps& policy, const ChosenRejectedLogps& reference,
                       double beta, LossType loss_type, double label_smoothing,
                       bool reference_free = false);

}  // namespace rlhf::dpo
