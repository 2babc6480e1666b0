#include "dpo_algorithm.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "rlhf/causal_lm.hpp"
#include "rlhf/causal_lm_check.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/eval_report.hpp"
#include "rlhf/policy_setup_check.hpp"
#include "rlhf/preference_data.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/stage_setup.hpp"
#include "rlhf/tokenizer.hpp"
#include "rlhf/trainer.hpp"

namespace rlhf::dpo {

namespace {

ChosenRejectedLogps to_logps(const PairLogps& p) {
  return {p.chosen.sum, p.rejected.sum, p.chosen.mean, p.rejected.mean};
}

ChosenRejectedLogps select(const ChosenRejectedLogps& all,
                           const std::vector<std::size_t>& indices) {
  std::vector<std::int64_t> idx(indices.begin(), indices.end());
  at::Tensor i = torch::tensor(idx, torch::kInt64);
  return {all.chosen.index_select(0, i), all.rejected.index_select(0, i),
          all.chosen_mean.index_select(0, i), all.rejected_mean.index_select(0, i)};
}

double batch_mean(const at::Tensor& t) { return t.to(torch::kDouble).mean().item<double>(); }

// How ref_model is loaded (and checked): the policy's dtype and device, never quantized.
LoadOptions ref_model_options(const StageContext& ctx) {
  LoadOptions options;
  options.dtype = ctx.dtype;
  options.device = ctx.device;
  return options;
}

}  // namespace

DpoAlgorithm::DpoAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL DPOConfig
  defaults.learning_rate = 1e-6;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  training_ = TrainingConfig::read(config, defaults);
  beta_ = config.get<double>("beta", 0.1);
  std::string loss_type = config.get<std::string>("loss_type", "sigmoid");
  try {
    loss_type_ = loss_type_from_string(loss_type);
  } catch (const Error& e) {
    config.fail("loss_type", e.what());
  }
  label_smoothing_ = config.get<double>("label_smoothing", 0.0);
  reference_free_ = config.get<bool>("reference_free", false);
  precompute_ref_log_probs_ = config.get<bool>("precompute_ref_log_probs", false);
  ref_model_ = config.get<std::string>("ref_model", "");
  if (!(beta_ > 0)) config.fail("beta", "must be > 0");
  if (label_smoothing_ < 0 || label_smoothing_ >= 0.5)
    config.fail("label_smoothing", "must be in [0, 0.5)");
  if (label_smoothing_ > 0 && (loss_type_ == LossType::hinge || loss_type_ == LossType::ipo))
    config.fail("label_smoothing", std::string("has no effect with loss_type \"") +
                                       to_string(loss_type_) + "\"; use sigmoid or robust");
  if (!ref_model_.empty() && reference_free_)
    config.fail("ref_model", "cannot be combined with reference_free = true");
}

void DpoAlgorithm::check(StageContext& ctx) {
  check_policy_setup(ctx, training_);
  ctx.model();
  tokenize_stage_pairs(ctx, training_);
  if (!ref_model_.empty()) check_causal_lm(ref_model_, ref_model_options(ctx));
}

void DpoAlgorithm::run(StageContext& ctx) {
  auto model = prepare_policy(ctx, training_);
  if (!training_.eval_only && restore_completed_stage(ctx, *model)) return;
  StagePairs pairs = tokenize_stage_pairs(ctx, training_);
  const auto& train_pairs = pairs.train;
  const auto& eval_pairs = pairs.eval;
  const Split eval_split = pairs.eval_split;
  const std::int64_t pad_id = ctx.tokenizer()->pad_id();

  std::shared_ptr<CausalLM> ref_model;
  if (!ref_model_.empty()) {
    ref_model = load_causal_lm(ref_model_, ref_model_options(ctx));
    ref_model->eval();
    for (auto& p : ref_model->parameters()) p.set_requires_grad(false);
  }
  bool precompute = precompute_ref_log_probs_;
  if (!reference_free_ && !ref_model && !ctx.adapter && !training_.eval_only && !precompute) {
    if (ctx.logger)
      ctx.logger->info(
          "[{}] no adapter and no ref_model: precomputing reference log-probs "
          "before the policy changes",
          ctx.stage_name);
    precompute = true;
  }
  if (!reference_free_ && !ref_model && !ctx.adapter && training_.eval_only && ctx.logger)
    ctx.logger->info(
        "[{}] eval_only with no adapter and no ref_model: the reference is the policy itself, "
        "so rewards are 0 and eval_loss is log 2; eval_preference_accuracy compares the "
        "policy's own log-probs (set ref_model or reference_free for rewards)",
        ctx.stage_name);

  // Reference log-probs of pairs `indices` (no grad; adapter off or the separate model).
  auto reference_forward = [&](const std::vector<TokenizedPair>& pairs,
                               const std::vector<std::size_t>& indices) {
    torch::NoGradGuard no_grad;
    PairBatch batch = collate_pairs(pairs, indices, pad_id);
    if (ref_model) return to_logps(concatenated_forward(*ref_model, batch));
    AdapterDisabled reference(ctx.adapter);
    return to_logps(concatenated_forward(*model, batch));
  };
  auto precompute_all = [&](const std::vector<TokenizedPair>& pairs) {
    ChosenRejectedLogps all;
    std::vector<at::Tensor> c, r, cm, rm;
    const auto batch = static_cast<std::size_t>(training_.per_device_eval_batch_size);
    for (std::size_t begin = 0; begin < pairs.size(); begin += batch) {
      std::vector<std::size_t> idx;
      for (std::size_t i = begin; i < std::min(pairs.size(), begin + batch); ++i) idx.push_back(i);
      auto l = reference_forward(pairs, idx);
      c.push_back(l.chosen);
      r.push_back(l.rejected);
      cm.push_back(l.chosen_mean);
      rm.push_back(l.rejected_mean);
    }
    if (pairs.empty()) return all;
    return ChosenRejectedLogps{torch::cat(c), torch::cat(r), torch::cat(cm), torch::cat(rm)};
  };
  ChosenRejectedLogps train_ref, eval_ref;
  if (precompute && !reference_free_) {
    set_training_mode(ctx, *model, training_, false);
    train_ref = precompute_all(train_pairs);
    eval_ref = precompute_all(eval_pairs);
    if (ctx.logger)
      ctx.logger->info("[{}] precomputed reference log-probs of {} + {} pairs", ctx.stage_name,
                       train_pairs.size(), eval_pairs.size());
  }

  struct Computed {
    DpoLossOutput loss;
    ChosenRejectedLogps policy, reference;
    PairLogps raw;
    std::int64_t tokens;
  };
  auto compute = [&](const std::vector<std::size_t>& indices, Split split) {
    const auto& pairs = split == Split::train && !training_.eval_only ? train_pairs : eval_pairs;
    const auto& precomputed = split == Split::train && !training_.eval_only ? train_ref : eval_ref;
    Computed c;
    PairBatch batch = collate_pairs(pairs, indices, pad_id);
    c.tokens = batch.tokens;
    c.raw = concatenated_forward(*model, batch);
    c.policy = to_logps(c.raw);
    if (!reference_free_)
      c.reference = precomputed.chosen.defined() ? select(precomputed, indices)
                                                 : reference_forward(pairs, indices);
    c.loss = dpo_loss(c.policy, c.reference, beta_, loss_type_, label_smoothing_, reference_free_);
    return c;
  };
  auto metrics_of = [&](const Computed& c) {
    const auto& r_w = c.loss.chosen_rewards;
    const auto& r_l = c.loss.rejected_rewards;
    return Metrics{{"rewards/chosen", batch_mean(r_w)},
                   {"rewards/rejected", batch_mean(r_l)},
                   {"rewards/accuracies", batch_mean((r_w > r_l).to(torch::kFloat))},
                   {"rewards/margins", batch_mean(r_w - r_l)},
                   {"logps/chosen", batch_mean(c.policy.chosen.detach())},
                   {"logps/rejected", batch_mean(c.policy.rejected.detach())},
                   {"logits/chosen", batch_mean(c.raw.chosen.logits_mean)},
                   {"logits/rejected", batch_mean(c.raw.rejected.logits_mean)}};
  };

  TrainingTask task;
  task.trainable = trainable_parameters(ctx, *model);
  task.train_size = train_pairs.size();
  task.eval_size = eval_pairs.size();
  task.set_training = [&](bool on) { set_training_mode(ctx, *model, training_, on); };
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    Computed c = compute(indices, split);
    return StepOutput{c.loss.losses.mean(), metrics_of(c), c.tokens};
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
        const double chosen = c.policy.chosen[j].item<double>();
        const double rejected = c.policy.rejected[j].item<double>();
        line["chosen_logps"] = chosen;
        line["rejected_logps"] = rejected;
        if (!reference_free_) {
          line["ref_chosen_logps"] = c.reference.chosen[j].item<double>();
          line["ref_rejected_logps"] = c.reference.rejected[j].item<double>();
        }
        line["chosen_reward"] = c.loss.chosen_rewards[j].item<double>();
        line["rejected_reward"] = c.loss.rejected_rewards[j].item<double>();
        out.lines.push_back(line.dump());
        if (chosen > rejected) ++out.correct;
      }
      return out;
    });
    return;
  }
  if (trainer.train(task)) save_stage_result(ctx, *model);
}

}  // namespace rlhf::dpo
