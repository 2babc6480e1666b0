#include "rlhf/pair_preference.hpp"

#include <spdlog/spdlog.h>

#include "rlhf/stage.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf {

TrainingConfig preference_training_defaults() {
  TrainingConfig defaults;
  defaults.learning_rate = 1e-6;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  return defaults;
}

double batch_mean(const at::Tensor& values) {
  return values.detach().to(torch::kDouble).mean().item<double>();
}

Metrics pair_reward_metrics(const at::Tensor& chosen_rewards, const at::Tensor& rejected_rewards,
                            const at::Tensor& chosen_logps, const at::Tensor& rejected_logps,
                            const PairLogps& policy) {
  const auto& r_w = chosen_rewards;
  const auto& r_l = rejected_rewards;
  return {{"rewards/chosen", batch_mean(r_w)},
          {"rewards/rejected", batch_mean(r_l)},
          {"rewards/accuracies", batch_mean((r_w > r_l).to(torch::kFloat))},
          {"rewards/margins", batch_mean(r_w - r_l)},
          {"logps/chosen", batch_mean(chosen_logps)},
          {"logps/rejected", batch_mean(rejected_logps)},
          {"logits/chosen", batch_mean(policy.chosen.logits_mean)},
          {"logits/rejected", batch_mean(policy.rejected.logits_mean)}};
}

void run_pair_preference(StageContext& ctx, const PairPreference& spec) {
  Stage stage = start_stage(ctx, spec.training);
  if (stage.completed) return;
  auto rows = tokenize_stage<TokenizedPair>(
      ctx, stage, [&](const Example& example, std::vector<TokenizedPair>& out) {
        out.push_back(tokenize_pair(example, *stage.tokenizer, stage.chat_template, spec.training));
      });
  const std::int64_t pad_id = stage.tokenizer->pad_id();
  auto batch_of = [&](Split split, const std::vector<std::size_t>& indices) {
    return collate_pairs(rows.of(split), indices, pad_id);
  };
  ReferencePolicy reference(ctx, stage, spec.reference, rows.train.size(), rows.eval.size(),
                            /*rows_per_example=*/2,
                            [&](Split split, const std::vector<std::size_t>& indices) {
                              return batch_of(split, indices).batch;
                            });
  if (reference.stopped()) return;
  const bool eval_only = spec.training.eval_only;

  TrainingTask task = stage.task(rows);
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    PairBatch batch = batch_of(split, indices);
    // The reference first: a frozen reference adapter is swapped into the live one for its
    // forward, which must happen before the policy's forward records its graph.
    PairLogps ref;
    if (!reference.is_reference_free())
      ref = split_pair_logps(reference.logps(split, indices, batch.batch), batch.pairs);
    PairLogps policy = concatenated_forward(*stage.model, batch);
    PairLoss loss = spec.loss(policy, ref);
    StepOutput out{loss.loss, std::move(loss.metrics), batch.tokens, {}};
    if (!eval_only) return out;
    const at::Tensor chosen = policy.chosen.sum.detach().to(torch::kCPU);
    const at::Tensor rejected = policy.rejected.sum.detach().to(torch::kCPU);
    out.metrics.emplace_back("preference_accuracy",
                             (chosen > rejected).to(torch::kDouble).mean().item<double>());
    out.predictions = {{"chosen_logps", chosen}, {"rejected_logps", rejected}};
    if (!reference.is_reference_free()) {
      out.predictions.emplace_back("ref_chosen_logps", ref.chosen.sum.to(torch::kCPU));
      out.predictions.emplace_back("ref_rejected_logps", ref.rejected.sum.to(torch::kCPU));
    }
    for (auto& [name, values] : loss.predictions)
      out.predictions.emplace_back(name, values.detach().to(torch::kCPU));
    return out;
  };
  if (ctx.logger && !ctx.check_only)
    ctx.logger->info("[{}] reference: {}", ctx.stage_name, reference.describe());
  finish_stage(ctx, stage, task, rows);
}

}  // namespace rlhf
