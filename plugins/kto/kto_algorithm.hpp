// The "kto" algorithm: KTO (Ethayarajh et al. 2024, https://arxiv.org/abs/2402.01306) on unpaired
// data, on the SDK's stage helpers (rlhf/stage.hpp) and reference policy
// (rlhf/reference_policy.hpp); formula and TRL names in kto_loss.hpp.
//
//   [[stage]]
//   algorithm = "kto"
//   beta = 0.1                  # β
//   desirable_weight = 1.0      # λ_D
//   undesirable_weight = 1.0    # λ_U
//   ref_model / ref_adapter / precompute_ref_log_probs   # the reference, as for dpo
//   # + every TrainingConfig key; per_device_train_batch_size must be > 1 (TRL's rule)
//   data = { plugin = "jsonl", path = "…" }   # rows {"prompt", "completion", "label": true}, or
//                                              # preference pairs: one desirable + one undesirable
//                                              row
//
// The KL reference point pairs each row's prompt with the completion of another row, fixed per
// dataset as TRL builds its KL dataset (kl_partners in kto_batch.hpp), so reference log-probs of
// those rows can be precomputed and cached like the rows' own.
// eval_only: eval_predictions.jsonl lines hold index (of the row), source, completion_logps,
// ref_completion_logps, reward (β·(s_θ − s_ref)), label.
#pragma once

#include "rlhf/algorithm.hpp"
#include "rlhf/reference_policy.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf::kto {

class KtoAlgorithm : public Algorithm {
 public:
  explicit KtoAlgorithm(const Config& config);
  void run(StageContext& ctx) override;
  // The stage helpers check instead of running under --check (ctx.check_only).
  void check(StageContext& ctx) override { run(ctx); }

 private:
  TrainingConfig training_;
  ReferenceOptions reference_;
  double beta_ = 0.1, desirable_weight_ = 1.0, undesirable_weight_ = 1.0;
};

}  // namespace rlhf::kto
