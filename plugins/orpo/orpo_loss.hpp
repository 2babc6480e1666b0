// The ORPO objective.
//
// ORPO: Monolithic Preference Optimization without Reference Model (Hong et al. 2024,
// https://arxiv.org/abs/2403.07691): "a minor penalty for the disfavored generation style is
// sufficient for preference-aligned SFT". With length-normalised policy log-probs
// a_w = avg log π_θ(y_w|x), a_l = avg log π_θ(y_l|x) (docs/algorithms.md, "ORPO"):
//
//   log_odds(a)    = a − log(1 − exp(a))            (log1p(−exp(a)) for stability)
//   log_odds_chosen = log_odds(a_w) − log_odds(a_l)  (z)
//   ratio          = logσ(z)
//   L_OR           = −ratio
//   L_SFT          = NLL of the chosen completion tokens (mean over the batch's tokens)
//   loss           = L_SFT + λ·mean(L_OR)            (λ = config key `beta`, default 0.1)
//
// Rewards (detached): chosen_rewards = λ·a_w, rejected_rewards = λ·a_l.
// Checked against TRL's ORPOTrainer.odds_ratio_loss (trl/trainer/orpo_trainer.py).
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::orpo {

struct OrpoLossOutput {
  at::Tensor loss;              // scalar: L_SFT + λ·mean(L_OR)
  at::Tensor nll_loss;          // scalar: L_SFT
  at::Tensor ratio;             // [P] logσ(z)
  at::Tensor log_odds_chosen;   // [P] z
  at::Tensor chosen_rewards;    // [P] λ·a_w, detached
  at::Tensor rejected_rewards;  // [P] λ·a_l, detached
};

// `chosen` / `rejected`: policy log-probs of the P pairs (sequence_logps of each half).
OrpoLossOutput orpo_loss(const SequenceLogps& chosen, const SequenceLogps& rejected, double beta);

}  // namespace rlhf::orpo
