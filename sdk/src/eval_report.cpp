#include "rlhf/eval_report.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "rlhf/error.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/stage_context.hpp"

namespace rlhf {

void write_jsonl(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    for (const auto& line : lines) out << line << '\n';
    if (!out) throw Error(tmp.string() + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

void report_metrics(StageContext& ctx, std::int64_t step, const Metrics& values,
                    const std::string& what) {
  if (ctx.metrics) ctx.metrics->log(ctx.stage_name, step, 0.0, values);
  if (!ctx.logger) return;
  std::string text;
  for (const auto& [name, value] : values) text += fmt::format(" | {} {:.4g}", name, value);
  ctx.logger->info("[{}] {}{}", ctx.stage_name, what, text);
}

void run_eval_only(StageContext& ctx, Trainer& trainer, const TrainingTask& task, bool pairs,
                   const PredictFn& predict) {
  if (task.set_training) task.set_training(false);
  std::vector<std::string> lines;
  std::size_t correct = 0;
  {
    torch::NoGradGuard no_grad;
    const auto batch = static_cast<std::size_t>(trainer.config().per_device_eval_batch_size);
    for (std::size_t begin = 0; begin < task.eval_size; begin += batch) {
      std::vector<std::size_t> indices;
      for (std::size_t i = begin; i < std::min(task.eval_size, begin + batch); ++i)
        indices.push_back(i);
      EvalPredictions out = predict(indices);
      lines.insert(lines.end(), out.lines.begin(), out.lines.end());
      correct += out.correct;
    }
  }
  write_jsonl(ctx.stage_dir / "eval_predictions.jsonl", lines);
  Metrics eval = trainer.evaluate(task);
  if (pairs)
    eval.emplace_back("eval_preference_accuracy",
                      task.eval_size == 0
                          ? 0.0
                          : static_cast<double>(correct) / static_cast<double>(task.eval_size));
  report_metrics(ctx, 0, eval,
                 "eval_only on " + std::to_string(task.eval_size) +
                     (pairs ? " pairs" : " examples") + " (eval_predictions.jsonl)");
}

}  // namespace rlhf
