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
//
// RPO (config key `rpo_alpha`, TRL DPOConfig.rpo_alpha, default unset = off; the RPO paper,
// Pang et al. 2024, arXiv 2404.19733, recommends 1.0): loss = mean(dpo losses) + α·L_SFT, with
// L_SFT = mean_token_nll(policy chosen) (rlhf/toolkit/logprobs.hpp). TRL's
// DPOTrainer.concatenated_forward computes "nll_loss" as F.cross_entropy over the chosen rows only
// (logits[:num_examples]), averaged over their completion tokens (it passes ignore_index=0 because
// its masked labels are 0, so a real token id 0 is skipped there too; here only masked positions
// are), and get_batch_loss_metrics adds `rpo_alpha * nll_loss` to every pair's loss before the mean
// — the same number. Metric `nll_loss` (logged only when rpo_alpha is set). TRL 0.28 deprecates
// rpo_alpha as "equivalent to including "sft" in loss_type" (its multi-loss form); the key is
// kept here under the name users know.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/logprobs.hpp"

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

struct RpoLossOutput {
  at::Tensor loss;      // scalar: mean(dpo.losses) + α·nll_loss
  at::Tensor nll_loss;  // scalar: mean_token_nll(policy_chosen), differentiable
};

// DPO + NLL of the chosen completions. `dpo` is dpo_loss's output for the same pairs;
// `policy_chosen` the policy's sequence_logps of the chosen half (with `tokens`).
RpoLossOutput rpo_loss(const DpoLossOutput& dpo, const SequenceLogps& policy_chosen,
                       double rpo_alpha);

}  // namespace rlhf::dpo
