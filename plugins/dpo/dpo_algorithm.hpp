// The "dpo" algorithm: Direct Preference Optimization (Rafailov et al. 2023,
// https://arxiv.org/abs/2305.18290) and its loss variants (dpo_loss.hpp), a loss on the SDK's
// pair-preference stage (rlhf/pair_preference.hpp).
//
//   [[stage]]
//   name = "dpo"
//   algorithm = "dpo"
//   beta = 0.1                     # β, typically 0.1–0.5
//   loss_type = "sigmoid"          # sigmoid | robust | hinge | ipo
//   label_smoothing = 0.0          # ε (cDPO / robust), 0 ≤ ε < 0.5
//   rpo_alpha = 1.0                # RPO: + α·NLL of the chosen completions (unset: off;
//                                  # logs nll_loss)
//   # the reference policy (rlhf/reference_policy.hpp): default the policy with its adapter off
//   reference_free = false         # ref_logratios = 0
//   ref_model = ""                 # a separate model folder
//   ref_adapter = ""               # "stage_start" (the adapter as the stage starts), a PEFT dir
//   precompute_ref_log_probs = …   # absent: per split, where the stage reads every row
//   # + every TrainingConfig key (learning_rate, max_steps, …; TRL names and defaults)
//
// eval_only = true: no training; evaluates the eval split (the train split when there is none)
// in one pass, logs eval_* metrics and eval_preference_accuracy (an rlhf-host addition: the
// fraction of pairs with log π_θ(y_w|x) > log π_θ(y_l|x)) and writes
// `<stage_dir>/eval_predictions.jsonl`, one line per pair: {"index", "source", "chosen_logps",
// "rejected_logps", "ref_chosen_logps", "ref_rejected_logps", "chosen_reward", "rejected_reward"}.
#pragma once

#include "rlhf/pair_preference.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::dpo {

class DpoAlgorithm : public PairPreferenceAlgorithm {
 public:
  explicit DpoAlgorithm(const Config& config);
};

}  // namespace rlhf::dpo
