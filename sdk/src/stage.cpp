#include "rlhf/stage.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "rlhf/adapter.hpp"
#include "rlhf/eval_report.hpp"
#include "rlhf/policy_setup_check.hpp"
#include "rlhf/stage_setup.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf {

void Stage::set_training(bool on) {
  model->train(on);
  if (adapter) adapter->set_training(on && !training.disable_dropout);
  training_on_ = on;
}

TrainingTask Stage::task(std::size_t train_size, std::size_t eval_size) {
  TrainingTask task;
  if (adapter) {
    task.trainable = adapter->named_parameters();
  } else {
    for (const auto& item : model->named_parameters(/*recurse=*/true))
      if (item.value().requires_grad()) task.trainable.emplace_back(item.key(), item.value());
  }
  task.train_size = train_size;
  task.eval_size = eval_size;
  task.set_training = [this](bool on) { set_training(on); };
  return task;
}

Stage start_stage(StageContext& ctx, const TrainingConfig& training) {
  Stage stage;
  stage.training = training;
  stage.adapter = ctx.adapter;
  stage.check_only = ctx.check_only;
  if (ctx.check_only) {
    check_policy_setup(ctx, training);
    stage.model = ctx.model();
  } else {
    stage.model = prepare_policy(ctx, training);
    if (!training.eval_only && restore_completed_stage(ctx, *stage.model)) {
      stage.completed = true;
      return stage;
    }
  }
  stage.tokenizer = ctx.tokenizer();
  stage.chat_template = ChatTemplate::for_model(ctx.chat_template, ctx.model_path);
  // A named template on a model whose vocabulary lacks its end-of-turn marker (zephyr's "</s>"
  // on a Llama-3 folder): the marker is trained as ordinary text and generation stops only at
  // EOS. Allowed, as transformers renders any template, but worth a line.
  const std::string end = stage.chat_template.end_of_turn();
  if (!end.empty() && stage.tokenizer->token_to_id(end) < 0)
    spdlog::warn(
        "chat template '{}' ends an assistant turn with '{}', which is not a token of {}: it "
        "is trained as plain text and generation stops only at EOS (chat_template = \"auto\" "
        "uses the model's own template)",
        stage.chat_template.name(), end, ctx.model_path.string());
  return stage;
}

namespace {

// One eval_predictions.jsonl value: integers stay integers (token counts), the rest doubles.
nlohmann::ordered_json prediction_value(const at::Tensor& values, std::int64_t row) {
  const at::Tensor v = values[row];
  if (c10::isIntegralType(v.scalar_type(), /*includeBool=*/false)) return v.item<std::int64_t>();
  if (v.scalar_type() == at::kBool) return v.item<bool>();
  return v.item<double>();
}

}  // namespace

void finish_stage(StageContext& ctx, Stage& stage, const TrainingTask& task,
                  const std::vector<std::string>& eval_sources) {
  if (stage.check_only) return;
  Trainer trainer(ctx, stage.training);
  if (!stage.training.eval_only) {
    if (trainer.train(task)) save_stage_result(ctx, *stage.model);
    return;
  }
  // eval_only: metrics and predictions from the same forward passes.
  std::vector<std::string> lines(task.eval_size);
  auto metrics =
      trainer.evaluate(task, [&](const std::vector<std::size_t>& indices, const StepOutput& out) {
        for (std::size_t k = 0; k < indices.size(); ++k) {
          const std::size_t i = indices[k];
          nlohmann::ordered_json line;
          line["index"] = i;
          line["source"] = i < eval_sources.size() ? eval_sources[i] : std::string();
          for (const auto& [name, values] : out.predictions)
            line[name] = prediction_value(values, static_cast<std::int64_t>(k));
          lines[i] = line.dump();
        }
      });
  if (!metrics) return;  // Ctrl-C: nothing is written from a partial pass
  // Written after evaluate() checked every metric is finite.
  write_jsonl(ctx.stage_dir / "eval_predictions.jsonl", lines);
  report_metrics(
      ctx, 0, *metrics,
      "eval_only on " + std::to_string(task.eval_size) + " examples (eval_predictions.jsonl)");
}

}  // namespace rlhf
