#include "kto_algorithm.hpp"

#include <spdlog/spdlog.h>

#include "kto_batch.hpp"
#include "kto_loss.hpp"
#include "rlhf/config.hpp"
#include "rlhf/pair_preference.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf::kto {

KtoAlgorithm::KtoAlgorithm(const Config& config) {
  training_ = TrainingConfig::read(config, preference_training_defaults());  // TRL KTOConfig
  reference_ = ReferenceOptions::read(config);
  beta_ = config.get<double>("beta", 0.1);
  desirable_weight_ = config.get<double>("desirable_weight", 1.0);
  undesirable_weight_ = config.get<double>("undesirable_weight", 1.0);
  if (reference_.reference_free)
    config.fail("reference_free", "KTO needs a reference policy (its KL term and rewards)");
  if (!(beta_ > 0)) config.fail("beta", "must be > 0");
  if (!(desirable_weight_ > 0)) config.fail("desirable_weight", "must be > 0");
  if (!(undesirable_weight_ > 0)) config.fail("undesirable_weight", "must be > 0");
  if (!training_.eval_only && training_.per_device_train_batch_size < 2)
    config.fail("per_device_train_batch_size",
                "must be > 1 for KTO: with one row its KL term equals the row's own reward");
}

void KtoAlgorithm::run(StageContext& ctx) {
  Stage stage = start_stage(ctx, training_);
  if (stage.completed) return;
  auto rows = tokenize_stage<KtoRow>(ctx, stage, [&](const Example& e, std::vector<KtoRow>& out) {
    auto r = tokenize_kto_rows(e, *stage.tokenizer, stage.chat_template, training_);
    out.insert(out.end(), r.begin(), r.end());
  });
  const auto block = static_cast<std::size_t>(training_.per_device_train_batch_size);
  const std::vector<std::size_t> train_partners = kl_partners(rows.train.size(), block);
  const std::vector<std::size_t> eval_partners = kl_partners(rows.eval.size(), block);
  const std::int64_t pad_id = stage.tokenizer->pad_id();
  auto batch_of = [&](Split split, const std::vector<std::size_t>& indices) {
    const auto& partners = split == Split::train ? train_partners : eval_partners;
    return collate_kto(rows.of(split), indices, partners, pad_id, training_);
  };
  ReferencePolicy reference(ctx, stage, reference_, rows.train.size(), rows.eval.size(),
                            /*rows_per_example=*/2,
                            [&](Split split, const std::vector<std::size_t>& indices) {
                              return batch_of(split, indices).batch;
                            });
  if (reference.stopped()) return;

  TrainingTask task = stage.task(rows);
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    KtoBatch batch = batch_of(split, indices);
    // The reference first (a frozen reference adapter swaps into the live one for its forward).
    KtoLogps ref = split_kto_logps(reference.logps(split, indices, batch.batch), batch.rows);
    // Row i and its mismatched KL row share the prompt: one packed row runs it once.
    KtoLogps policy = split_kto_logps(
        sequence_logps(completion_logits(*stage.model, batch.batch, /*rows_per_example=*/2)),
        batch.rows);
    KtoLossOutput out =
        kto_loss(policy, ref, batch.desirable, beta_, desirable_weight_, undesirable_weight_);
    StepOutput step{out.loss, kto_metrics(out, policy.matched, batch.desirable), batch.tokens, {}};
    if (training_.eval_only)
      step.predictions = {{"completion_logps", policy.matched.detach().to(torch::kCPU)},
                          {"ref_completion_logps", ref.matched.to(torch::kCPU)},
                          {"reward", out.rewards.to(torch::kCPU)},
                          {"label", batch.desirable.to(torch::kCPU)}};
    return step;
  };
  if (ctx.logger && !ctx.check_only)
    ctx.logger->info("[{}] {} train / {} eval rows; reference: {}", ctx.stage_name,
                     rows.train.size(), rows.eval.size(), reference.describe());
  finish_stage(ctx, stage, task, rows);
}

}  // namespace rlhf::kto
