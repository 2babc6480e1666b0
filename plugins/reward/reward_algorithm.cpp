#include "reward_algorithm.hpp"

#include <torch/torch.h>

#include "reward_loss.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/sequence_classifier_result.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/toolkit/sequence_classifier.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf::reward {

namespace {

// One preference pair and its margin.
struct RewardRow {
  TokenizedPair pair;
  double margin = 0;
  bool has_margin = false;
};

}  // namespace

RewardAlgorithm::RewardAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL RewardConfig: TrainingArguments' defaults, max_length 1024
  training_ = TrainingConfig::read(config, defaults);
  center_rewards_coefficient_ = config.get<double>("center_rewards_coefficient", 0.0);
  if (center_rewards_coefficient_ < 0) config.fail("center_rewards_coefficient", "must be >= 0");
}

void RewardAlgorithm::run(StageContext& ctx) {
  if (ctx.reward_model && ctx.config)  // a host key of the stage, meaningless here
    ctx.config->fail("reward_model",
                     "a reward stage trains a reward model and scores with none; remove it");
  // The reward stage's result is a SequenceClassification folder, which the SDK's generic
  // --resume restore does not read: start_stage() is told not to, and the result is restored
  // below (restore_sequence_classifier_result).
  StageContext start_ctx = ctx;
  start_ctx.resume = false;
  Stage stage = start_stage(start_ctx, training_);
  CausalLM& model = *stage.model;

  torch::Tensor head = score_head(model);
  if (!head.defined()) {
    if (training_.eval_only)
      throw Error("stage '" + ctx.stage_name +
                  "': eval_only needs a trained score head: put a reward training stage before "
                  "this one, or set [model].path to a reward model folder (<stage>/model)");
    head = init_score_head(model);
  }
  if (!training_.eval_only && !stage.check_only &&
      restore_sequence_classifier_result(ctx, model, head))
    return;

  auto rows = tokenize_stage<RewardRow>(
      ctx, stage, [&](const Example& example, std::vector<RewardRow>& out) {
        out.push_back({tokenize_pair(example, *stage.tokenizer, stage.chat_template, training_),
                       example.margin.value_or(0.0), example.margin.has_value()});
      });
  const std::int64_t pad_id = stage.tokenizer->pad_id();
  bool eval_has_margin = false;
  for (const auto& row : rows.eval) eval_has_margin = eval_has_margin || row.has_margin;
  const double c = center_rewards_coefficient_;

  TrainingTask task = stage.task(rows);
  if (stage.adapter) task.trainable.emplace_back("score.weight", head);  // else among the model's
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    const auto& split_rows = rows.of(split);
    std::vector<TokenizedPair> pairs;
    std::vector<double> margins;
    for (auto i : indices) {
      pairs.push_back(split_rows.at(i).pair);
      margins.push_back(split_rows.at(i).margin);
    }
    std::vector<std::size_t> all(pairs.size());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    PairBatch batch = collate_pairs(pairs, all, pad_id);  // chosen rows, then rejected rows
    const at::Tensor scores = last_token_scores(model, head, batch.batch);
    const at::Tensor chosen = scores.narrow(0, 0, batch.pairs);
    const at::Tensor rejected = scores.narrow(0, batch.pairs, batch.pairs);
    const at::Tensor margin =
        torch::tensor(margins, torch::kDouble).to(scores.device(), torch::kFloat32);
    RewardLossOutput loss = reward_loss(chosen, rejected, margin, c);
    StepOutput out{loss.loss, {{"accuracy", loss.accuracy}}, batch.tokens, {}};
    if (training_.eval_only) {
      out.predictions = {{"chosen_reward", chosen.detach().to(torch::kCPU)},
                         {"rejected_reward", rejected.detach().to(torch::kCPU)}};
      if (eval_has_margin) out.predictions.emplace_back("margin", margin.to(torch::kCPU));
    }
    return out;
  };
  if (training_.eval_only || stage.check_only) {
    finish_stage(ctx, stage, task, rows);
    return;
  }
  Trainer trainer(ctx, training_);
  if (trainer.train(task)) save_sequence_classifier_result(ctx, model, head);
}

}  // namespace rlhf::reward
