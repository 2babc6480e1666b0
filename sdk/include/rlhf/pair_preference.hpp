// A pair-preference algorithm (DPO, ORPO, SimPO, CPO, …) is a loss over the log-probs of chosen
// and rejected completions, plus its metrics. Everything else — the stage (stage.hpp), the
// pairs tokenised with the chat template, one concatenated forward per batch, the reference
// policy (reference_policy.hpp), eval_only predictions, --check — is run_pair_preference():
//
//   class SimPO : public rlhf::PairPreferenceAlgorithm {
//    public:
//     explicit SimPO(const Config& c) {
//       spec_.training = TrainingConfig::read(c, preference_training_defaults());
//       spec_.reference.reference_free = true;
//       double beta = c.get<double>("beta", 2.0), gamma = c.get<double>("simpo_gamma", 1.0);
//       spec_.loss = [=](const PairLogps& pi, const PairLogps&) {
//         at::Tensor losses = -logsigmoid(beta * (pi.chosen.mean - pi.rejected.mean) - gamma);
//         return PairLoss{losses.mean(), {{"rewards/chosen", …}}, {}};
//       };
//     }
//   };
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/algorithm.hpp"
#include "rlhf/reference_policy.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/trainer.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

struct StageContext;

// What the loss returns for one batch of P pairs.
struct PairLoss {
  at::Tensor loss;  // scalar; differentiable when training
  Metrics metrics;  // TRL's names, means over the batch's pairs
  // Extra per-pair values for eval_predictions.jsonl, each [P] (e.g. {"chosen_reward", r_w}).
  std::vector<std::pair<std::string, at::Tensor>> predictions;
};

struct PairPreference {
  TrainingConfig training;
  ReferenceOptions reference;  // reference_free = true: the loss gets an empty `reference`
  // Policy log-probs (each field [P]: sum, mean, tokens, logits_mean; differentiable when
  // training) and the reference's (sum, mean, tokens; no grad; undefined when reference-free).
  std::function<PairLoss(const PairLogps& policy, const PairLogps& reference)> loss;
};

// The mean of a [P] tensor as a metric value (detached, in double).
double batch_mean(const at::Tensor& values);

// TRL's metrics of a pair loss with implicit rewards r_w, r_l ([P], detached): rewards/chosen,
// rewards/rejected, rewards/accuracies (1[r_w > r_l]), rewards/margins, logps/chosen,
// logps/rejected (the log-probs the loss used: summed for DPO, averaged for ORPO/SimPO),
// logits/chosen, logits/rejected (mean raw logit over completion tokens).
Metrics pair_reward_metrics(const at::Tensor& chosen_rewards, const at::Tensor& rejected_rewards,
                            const at::Tensor& chosen_logps, const at::Tensor& rejected_logps,
                            const PairLogps& policy);

// The training defaults TRL's preference trainers share (DPOConfig, ORPOConfig, CPOConfig,
// KTOConfig): learning_rate 1e-6, max_length 1024, max_prompt_length 512.
TrainingConfig preference_training_defaults();

// Runs the stage (or checks it, with ctx.check_only): tokenises ctx.data into pairs, trains
// with `spec.loss` and saves the result, or with eval_only evaluates in one pass and writes
// eval_predictions.jsonl: index, source, chosen_logps, rejected_logps (summed policy log-probs),
// ref_chosen_logps, ref_rejected_logps (with a reference), then the loss's predictions; and
// logs eval_preference_accuracy, the fraction of pairs with chosen_logps > rejected_logps.
void run_pair_preference(StageContext& ctx, const PairPreference& spec);

// The Algorithm of a pair-preference loss: the subclass's constructor reads its keys and fills
// `spec_`; run() and check() (`rlhf-host --check` takes the same path) are the SDK's.
class PairPreferenceAlgorithm : public Algorithm {
 public:
  void run(StageContext& ctx) override { run_pair_preference(ctx, spec_); }
  void check(StageContext& ctx) override { run_pair_preference(ctx, spec_); }

 protected:
  PairPreference spec_;
};

}  // namespace rlhf
