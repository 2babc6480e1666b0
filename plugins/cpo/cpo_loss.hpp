// The CPO objective.
//
// Contrastive Preference Optimization: Pushing the Boundaries of LLM Performance in Machine
// Translation (Xu et al. 2024, https://arxiv.org/abs/2401.08417): DPO's loss with the
// reference dropped (a uniform reference), plus a behaviour-cloning NLL term on the chosen
// completions. With summed policy log-probs s_w = log π_θ(y_w|x), s_l = log π_θ(y_l|x)
// (docs/algorithms.md, "More preference losses"):
//
//   h       = s_w − s_l
//   losses  = −(1−ε)·logσ(β·h) − ε·logσ(−β·h)         (per pair; ε = label_smoothing)
//   nll     = mean_token_nll(chosen)                   (rlhf/toolkit/logprobs.hpp)
//   loss    = mean(losses) + cpo_alpha·nll
//   rewards = β·s_w, β·s_l                             (detached)
//
// Followed: TRL's CPOTrainer, loss_type="sigmoid" (trl/trainer/cpo_trainer.py):
// - cpo_loss: logits = policy_chosen_logps − policy_rejected_logps; sigmoid losses
//   −logσ(β·logits)·(1−ε) − logσ(−β·logits)·ε ("reduces to Equation 3 from the CPO paper when
//   label_smoothing -> 0"), so TRL's CPO does use label_smoothing (cDPO form);
// - the log-probs are summed for "sigmoid" (get_batch_logps(average_log_prob=loss_type in
//   ["ipo", "simpo"])), so rewards = β·s_w, β·s_l and logps/* are the sums;
// - concatenated_forward: nll_loss = nn.CrossEntropyLoss over the chosen rows' shifted logits and
//   labels (−100 ignored), i.e. the mean over all chosen completion tokens of the batch =
//   mean_token_nll; get_batch_loss_metrics: loss = losses.mean() + cpo_alpha·nll_loss.
// TRL sets nll_loss to 0 when cpo_alpha == 0; here nll_loss is always the real NLL (it costs
// nothing: the log-probs are computed anyway) and cpo_alpha·nll adds 0 to the loss.
// TRL's CPO also offers loss_type hinge and ipo; not offered here (simpo is its own plugin).
//
// Config keys the `cpo` algorithm should expose (TRL CPOConfig names and defaults):
//   beta             0.1   β
//   label_smoothing  0.0   ε in [0, 0.5)
//   cpo_alpha        1.0   weight of the chosen NLL (behaviour cloning); ≥ 0
//   training keys as DPO (TRL CPOConfig: learning_rate 1e-6, max_length 1024,
//   max_prompt_length 512, truncation_mode "keep_end"). No reference model.
// Metrics (TRL CPOTrainer names, means over the pairs of the batch): `rewards/chosen` = β·s_w,
// `rewards/rejected` = β·s_l, `rewards/accuracies`, `rewards/margins`, `logps/chosen` = s_w,
// `logps/rejected` = s_l, `logits/chosen`, `logits/rejected`, `nll_loss`.
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::cpo {

struct CpoLossOutput {
  at::Tensor loss;              // scalar: mean(losses) + cpo_alpha·nll_loss
  at::Tensor losses;            // [P] per-pair preference loss
  at::Tensor nll_loss;          // scalar: mean_token_nll(chosen)
  at::Tensor chosen_rewards;    // [P] β·s_w, detached
  at::Tensor rejected_rewards;  // [P] β·s_l, detached
};

// `chosen` / `rejected`: policy log-probs of the P pairs (sequence_logps of each half; the
// loss reads `sum`, the NLL `sum` and `tokens`).
CpoLossOutput cpo_loss(const SequenceLogps& chosen, const SequenceLogps& rejected, double beta,
                       double label_smoothing = 0.0, double cpo_alpha = 1.0);

}  // namespace rlhf::cpo
