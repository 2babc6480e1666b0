// The SimPO objective.
//
// SimPO: Simple Preference Optimization with a Reference-Free Reward (Meng et al. 2024,
// https://arxiv.org/abs/2405.14734): the implicit reward is the policy's length-normalised
// log-prob, and a target margin γ separates chosen from rejected. No reference model. With
// a_w = avg log π_θ(y_w|x), a_l = avg log π_θ(y_l|x) (docs/algorithms.md, "More preference
// losses"):
//
//   z       = β·a_w − β·a_l − γ
//   losses  = −(1−ε)·logσ(z) − ε·logσ(−z)            (per pair; ε = label_smoothing, 0 = SimPO)
//   nll     = mean_token_nll(chosen)                  (rlhf/toolkit/logprobs.hpp)
//   loss    = mean(losses) + cpo_alpha·nll            (cpo_alpha = 0: plain SimPO)
//   rewards = β·a_w, β·a_l                            (detached)
//
// Followed: TRL's CPOTrainer with loss_type="simpo" (trl/trainer/cpo_trainer.py, cpo_loss):
// logits = (a_w − a_l) − simpo_gamma/β; losses = −logσ(β·logits)·(1−ε) − logσ(−β·logits)·ε —
// the same z; TRL applies label_smoothing to simpo as to sigmoid. Its log-probs are averaged
// when loss_type is "ipo" or "simpo" (get_batch_logps(average_log_prob=...)), so its rewards
// and its logps/* metrics are the averages: β·a_w, β·a_l and a_w, a_l. get_batch_loss_metrics:
// loss = losses.mean() + cpo_alpha·nll_loss, nll_loss = nn.CrossEntropyLoss over the chosen
// rows (= mean_token_nll).
//
// Config keys the `simpo` algorithm should expose (TRL CPOConfig names):
//   beta             0.1   TRL's default; the paper uses β = 2.0–2.5 (β/γ tuned together)
//   simpo_gamma      0.5   target reward margin γ (TRL default; paper: γ/β ≈ 0.5); ≥ 0
//   label_smoothing  0.0   ε in [0, 0.5)
//   cpo_alpha        0.0   weight of the chosen NLL. DEVIATION: TRL's CPOConfig default is 1.0
//                          for every loss_type, which with "simpo" gives CPO-SimPO
//                          (github.com/fe1ixxu/CPO_SIMPO); the `simpo` plugin defaults to the
//                          paper's plain SimPO (docs/algorithms.md, "SimPO").
//   training keys as DPO (TRL CPOConfig: learning_rate 1e-6, max_length 1024,
//   max_prompt_length 512, truncation_mode "keep_end").
// Metrics (TRL CPOTrainer names, means over the pairs of the batch): `rewards/chosen` = β·a_w,
// `rewards/rejected` = β·a_l, `rewards/accuracies`, `rewards/margins`, `logps/chosen` = a_w,
// `logps/rejected` = a_l, `logits/chosen`, `logits/rejected`, `nll_loss`.
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::simpo {

struct SimpoLossOutput {
  at::Tensor loss;              // scalar: mean(losses) + cpo_alpha·nll_loss
  at::Tensor losses;            // [P] per-pair SimPO loss
  at::Tensor nll_loss;          // scalar: mean_token_nll(chosen) (computed whatever cpo_alpha)
  at::Tensor chosen_rewards;    // [P] β·a_w, detached
  at::Tensor rejected_rewards;  // [P] β·a_l, detached
};

// `chosen` / `rejected`: policy log-probs of the P pairs (sequence_logps of each half; the
// loss reads `mean`, the NLL `sum` and `tokens`).
SimpoLossOutput simpo_loss(const SequenceLogps& chosen, const SequenceLogps& rejected, double beta,
                           double gamma, double label_smoothing = 0.0, double cpo_alpha = 0.0);

}  // namespace rlhf::simpo
