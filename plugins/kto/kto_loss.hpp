// The KTO objective.
//
// KTO: Model Alignment as Prospect Theoretic Optimization (Ethayarajh et al. 2024,
// https://arxiv.org/abs/2402.01306): unpaired data — each row is (prompt x, completion y,
// label desirable/undesirable) — and a Kahneman–Tversky value function around a reference
// point z0. With summed log-probs s (docs/algorithms.md, "More preference losses"):
//
//   r      = s_θ(y|x) − s_ref(y|x)                       (per row; reference detached)
//   kl     = max(0, mean_i (s_θ(y'_i|x_i) − s_ref(y'_i|x_i)))    (detached; the y'_i are the
//            batch's completions shifted by one row, see kto_batch.hpp)
//   desirable row    λ_D·(1 − σ(β·(r − kl)))
//   undesirable row  λ_U·(1 − σ(β·(kl − r)))
//   loss   = mean over the N rows of the weighted row losses
//   rewards = β·r (detached)
//
// Followed: TRL's KTOTrainer (trl/trainer/kto_trainer.py), loss_type="kto":
// - kto_loss: kl = (policy_KL_logps − reference_KL_logps).mean().detach(), then gathered and
//   .clamp(min=0) — so the clamp is on the batch mean, not per row; chosen_losses
//   = 1 − σ(β(chosen_logratios − kl)), rejected_losses = 1 − σ(β(kl − rejected_logratios));
//   losses = cat(desirable_weight·chosen_losses, undesirable_weight·rejected_losses);
//   chosen/rejected_rewards = β·logratios.detach();
// - get_batch_loss_metrics: loss = losses.nanmean(): the plain mean over all rows of the
//   batch, the weights are not renormalised. nanmean only differs when a row loss is NaN,
//   which the Trainer treats as divergence anyway, so this is a plain mean.
// - forward: the KL rows go through the policy under torch.no_grad(); here kl is detached, so
//   the gradient is the same (the mismatched half may be in the same forward, see kto_batch).
// TRL's loss_type "apo_zero_unpaired" is not offered.
//
// Config keys the `kto` algorithm should expose (TRL KTOConfig names and defaults):
//   beta                      0.1   β (> 0)
//   desirable_weight          1.0   λ_D (> 0)
//   undesirable_weight        1.0   λ_U (> 0). TRL warns unless λ_D·n_D / (λ_U·n_U) lies in
//                                   [1, 4/3] (paper Eq. 8) for the train split's counts.
//   precompute_ref_log_probs  false (rlhf-host: absent = precomputed where every row is read)
//   ref_model                 ""    as DPO (default: the policy with adapters off)
//   per_device_train_batch_size must be > 1: TRL raises "Actual (not effective) batch size must
//   be > 1. KTO will not work properly because the KL term will be equivalent to the implied
//   reward." (a batch of 1 pairs each prompt with its own completion).
//   training keys as DPO (TRL KTOConfig: learning_rate 1e-6, max_length 1024,
//   max_prompt_length 512, truncation_mode "keep_end").
// Metrics (TRL names): `kl`; `rewards/chosen`, `logps/chosen` (means of β·r and s_θ over the
// desirable rows), `rewards/rejected`, `logps/rejected` (over the undesirable rows). See
// kto_metrics for a batch without one kind.
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/trainer.hpp"

namespace rlhf::kto {

// Summed completion log-probs of one KtoBatch under one model, each [N].
struct KtoLogps {
  at::Tensor matched;     // s(y_i | x_i): the rows themselves
  at::Tensor mismatched;  // s(y'_i | x_i): the KL rows (completion of another row)
};

struct KtoLossOutput {
  at::Tensor loss;     // scalar: mean of `losses`
  at::Tensor losses;   // [N] weighted per-row loss, in row order
  at::Tensor rewards;  // [N] β·(s_θ − s_ref) of the matched rows, detached
  at::Tensor kl;       // scalar reference point, detached, ≥ 0
};

// `desirable`: [N] kBool, the rows' labels. The reference log-probs are detached here.
KtoLossOutput kto_loss(const KtoLogps& policy, const KtoLogps& reference,
                       const at::Tensor& desirable, double beta, double desirable_weight = 1.0,
                       double undesirable_weight = 1.0);

// The batch's metrics under TRL's names: `kl` always; `rewards/chosen` and `logps/chosen` only
// when the batch has a desirable row, `rewards/rejected` and `logps/rejected` only when it has
// an undesirable one. A kind absent from the batch is left out (never NaN, never a made-up 0):
// TRL likewise logs per-kind sums and counts and divides at logging time, so a batch without
// desirable rows contributes nothing to `rewards/chosen`. Note: the Trainer's logging window
// today divides each metric's sum by every micro-batch of the window, so a metric left out of
// some micro-batches is averaged low there; TRL's exact rule is Σ sums / Σ counts per kind.
// `policy_matched`: policy.matched.
Metrics kto_metrics(const KtoLossOutput& out, const at::Tensor& policy_matched,
                    const at::Tensor& desirable);

}  // namespace rlhf::kto
