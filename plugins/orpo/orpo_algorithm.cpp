#include "orpo_algorithm.hpp"

#include <nlohmann/json.hpp>

#include "orpo_loss.hpp"
#include "rlhf/causal_lm.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/eval_report.hpp"
#include "rlhf/policy_setup_check.hpp"
#include "rlhf/preference_data.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/stage_setup.hpp"
#include "rlhf/tokenizer.hpp"
#include "rlhf/trainer.hpp"

namespace rlhf::orpo {

namespace {
double batch_mean(const at::Tensor& t) {
  return t.detach().to(torch::kDouble).mean().item<double>();
}

}  // namespace

OrpoAlgorithm::OrpoAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL ORPOConfig
  defaults.learning_rate = 1e-6;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  training_ = TrainingConfig::read(config, defaults);
  beta_ = config.get<double>("beta", 0.1);
  if (!(beta_ > 0)) config.fail("beta", "must be > 0");
}

void OrpoAlgorithm::check(StageContext& ctx) {
  check_policy_setup(ctx, training_);
  ctx.model();
  tokenize_stage_pairs(ctx, training_);
}

void OrpoAlgorithm::run(StageContext& ctx) {
  auto model = prepare_policy(ctx, training_);
  if (!training_.eval_only && restore_completed_stage(ctx, *model)) return;
  StagePairs pairs = tokenize_stage_pairs(ctx, training_);
  const auto& train_pairs = pairs.train;
  const auto& eval_pairs = pairs.eval;
  const Split eval_split = pairs.eval_split;
  const std::int64_t pad_id = ctx.tokenizer()->pad_id();

  struct Computed {
    PairLogps policy;
    OrpoLossOutput loss;
    std::int64_t tokens;
  };
  auto compute = [&](const std::vector<std::size_t>& indices, Split split) {
    const auto& pairs = split == Split::train && !training_.eval_only ? train_pairs : eval_pairs;
    PairBatch batch = collate_pairs(pairs, indices, pad_id);
    Computed c;
    c.tokens = batch.tokens;
    c.policy = concatenated_forward(*model, batch);
    c.loss = orpo_loss(c.policy.chosen, c.policy.rejected, beta_);
    return c;
  };

  TrainingTask task;
  task.trainable = trainable_parameters(ctx, *model);
  task.train_size = train_pairs.size();
  task.eval_size = eval_pairs.size();
  task.set_training = [&](bool on) { set_training_mode(ctx, *model, training_, on); };
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    Computed c = compute(indices, split);
    const auto& r_w = c.loss.chosen_rewards;
    const auto& r_l = c.loss.rejected_rewards;
    Metrics metrics{{"rewards/chosen", batch_mean(r_w)},
                    {"rewards/rejected", batch_mean(r_l)},
                    {"rewards/accuracies", batch_mean((r_w > r_l).to(torch::kFloat))},
                    {"rewards/margins", batch_mean(r_w - r_l)},
                    {"logps/chosen", batch_mean(c.policy.chosen.mean)},
                    {"logps/rejected", batch_mean(c.policy.rejected.mean)},
                    {"logits/chosen", batch_mean(c.policy.chosen.logits_mean)},
                    {"logits/rejected", batch_mean(c.policy.rejected.logits_mean)},
                    {"nll_loss", batch_mean(c.loss.nll_loss)},
                    {"log_odds_ratio", batch_mean(c.loss.ratio)},
                    {"log_odds_chosen", batch_mean(c.loss.log_odds_chosen)}};
    return StepOutput{c.loss.loss, metrics, c.tokens};
  };
  Trainer trainer(ctx, training_);

  if (training_.eval_only) {
    run_eval_only(ctx, trainer, task, /*pairs=*/true, [&](const std::vector<std::size_t>& idx) {
      Computed c = compute(idx, Split::eval);
      EvalPredictions out;
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const auto j = static_cast<std::int64_t>(k);
        nlohmann::ordered_json line;
        line["index"] = idx[k];
        line["source"] = ctx.data->at(idx[k], eval_split).source;
        const double chosen = c.policy.chosen.sum[j].item<double>();
        const double rejected = c.policy.rejected.sum[j].item<double>();
        line["chosen_logps"] = chosen;
        line["rejected_logps"] = rejected;
        line["chosen_avg_logps"] = c.policy.chosen.mean[j].item<double>();
        line["rejected_avg_logps"] = c.policy.rejected.mean[j].item<double>();
        out.lines.push_back(line.dump());
        if (chosen > rejected) ++out.correct;
      }
      return out;
    });
    return;
  }
  if (trainer.train(task)) save_stage_result(ctx, *model);
}

}  // namespace rlhf::orpo
