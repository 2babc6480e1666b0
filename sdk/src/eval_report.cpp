#include "rlhf/eval_report.hpp"

#include <spdlog/spdlog.h>

#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/file_writer.hpp"

namespace rlhf {

void write_jsonl(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  if (!Distributed::get().is_main()) return;  // data parallel: rank 0 writes the run's files
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  write_file_atomically(path, [&](FileWriter& out) {
    for (const auto& line : lines) out.write(line + '\n');
  });
}

void report_metrics(StageContext& ctx, std::int64_t step, const Metrics& values,
                    const std::string& what) {
  if (ctx.metrics) ctx.metrics->log(ctx.stage_name, step, 0.0, values);
  if (!ctx.logger) return;
  std::string text;
  for (const auto& [name, value] : values) text += fmt::format(" | {} {:.4g}", name, value);
  ctx.logger->info("[{}] {}{}", ctx.stage_name, what, text);
}

}  // namespace rlhf
