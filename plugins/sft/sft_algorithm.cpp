#include "sft_algorithm.hpp"

#include <nlohmann/json.hpp>

#include "rlhf/causal_lm.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/eval_report.hpp"
#include "rlhf/logprobs.hpp"
#include "rlhf/policy_setup_check.hpp"
#include "rlhf/preference_data.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/stage_setup.hpp"
#include "rlhf/tokenizer.hpp"
#include "rlhf/trainer.hpp"
#include "sft_loss.hpp"

namespace rlhf::sft {

SftAlgorithm::SftAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL SFTConfig
  defaults.learning_rate = 2e-5;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  training_ = TrainingConfig::read(config, defaults);
}

namespace {

struct Rows {
  std::vector<PromptCompletionIds> train, eval;
  Split eval_split = Split::eval;
};

// The rows the stage trains and evaluates on (eval_only without an eval split evaluates the
// train split); an example that is no SFT record throws, naming its file:line.
Rows tokenize_rows(StageContext& ctx, const TrainingConfig& training) {
  auto tokenizer = ctx.tokenizer();
  auto chat_template = ChatTemplate::get(ctx.chat_template);
  if (!ctx.data) throw Error("stage '" + ctx.stage_name + "': no data source");

  auto tokenize_split = [&](Split split) {
    std::vector<PromptCompletionIds> rows;
    for (std::size_t i = 0; i < ctx.data->size(split); ++i)
      rows.push_back(
          tokenize_completion(ctx.data->at(i, split), *tokenizer, chat_template, training));
    return rows;
  };
  Rows rows;
  const bool eval_on_train = training.eval_only && ctx.data->size(Split::eval) == 0;
  rows.eval_split = eval_on_train ? Split::train : Split::eval;
  if (!training.eval_only) rows.train = tokenize_split(Split::train);
  rows.eval = tokenize_split(rows.eval_split);
  return rows;
}

}  // namespace

void SftAlgorithm::check(StageContext& ctx) {
  check_policy_setup(ctx, training_);
  ctx.model();
  tokenize_rows(ctx, training_);
}

void SftAlgorithm::run(StageContext& ctx) {
  auto model = prepare_policy(ctx, training_);
  if (!training_.eval_only && restore_completed_stage(ctx, *model)) return;
  Rows rows = tokenize_rows(ctx, training_);
  const auto& train_rows = rows.train;
  const auto& eval_rows = rows.eval;
  const Split eval_split = rows.eval_split;
  const std::int64_t pad_id = ctx.tokenizer()->pad_id();

  auto batch_of = [&](const std::vector<std::size_t>& indices, Split split, std::int64_t& tokens) {
    const auto& rows = split == Split::train && !training_.eval_only ? train_rows : eval_rows;
    std::vector<PromptCompletionIds> picked;
    for (auto i : indices) {
      picked.push_back(rows.at(i));
      tokens += static_cast<std::int64_t>(rows[i].prompt.size() + rows[i].completion.size());
    }
    return collate(picked, pad_id);
  };

  TrainingTask task;
  task.trainable = trainable_parameters(ctx, *model);
  task.train_size = train_rows.size();
  task.eval_size = eval_rows.size();
  task.set_training = [&](bool on) { set_training_mode(ctx, *model, training_, on); };
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    std::int64_t tokens = 0;
    Batch batch = batch_of(indices, split, tokens);
    at::Tensor logits = model->forward(batch.input_ids, batch.attention_mask);
    SftLossOutput out = sft_loss(logits, batch.labels);
    return StepOutput{out.loss, {{"mean_token_accuracy", out.mean_token_accuracy}}, tokens};
  };
  Trainer trainer(ctx, training_);

  if (training_.eval_only) {
    run_eval_only(ctx, trainer, task, /*pairs=*/false, [&](const std::vector<std::size_t>& idx) {
      std::int64_t tokens = 0;
      Batch batch = batch_of(idx, Split::eval, tokens);
      SequenceLogps logps =
          sequence_logps(model->forward(batch.input_ids, batch.attention_mask), batch.labels);
      EvalPredictions out;
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const auto j = static_cast<std::int64_t>(k);
        nlohmann::ordered_json line;
        line["index"] = idx[k];
        line["source"] = ctx.data->at(idx[k], eval_split).source;
        line["completion_logps"] = logps.sum[j].item<double>();
        line["completion_tokens"] = static_cast<std::int64_t>(logps.tokens[j].item<double>());
        out.lines.push_back(line.dump());
      }
      return out;
    });
    return;
  }
  if (trainer.train(task)) save_stage_result(ctx, *model);
}

}  // namespace rlhf::sft
