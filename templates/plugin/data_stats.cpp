// data_stats — an example Algorithm plugin: it trains nothing, it describes its stage's data.
// For up to `max_examples` training examples it counts prompt and completion characters,
// logs them as metrics (metrics.jsonl + TensorBoard) and writes `<stage_dir>/data_stats.json`.
//
//   [[stage]]
//   name = "inspect"
//   algorithm = "data_stats"
//   max_examples = 100                 # 0 = all
//   data = { plugin = "jsonl", path = "examples/data/prefs.jsonl" }
#include <rlhf/algorithm.hpp>
#include <rlhf/config.hpp>
#include <rlhf/data_source.hpp>
#include <rlhf/error.hpp>
#include <rlhf/metrics.hpp>
#include <rlhf/plugin.hpp>
#include <rlhf/stage_context.hpp>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::size_t characters(const std::vector<rlhf::Message>& messages) {
  std::size_t n = 0;
  for (const auto& m : messages) n += m.content.size();
  return n;
}

class DataStats : public rlhf::Algorithm {
 public:
  // Read (and so declare) every key here; validate values with config.fail(). No heavy work:
  // `rlhf-host --check` constructs plugins too.
  explicit DataStats(const rlhf::Config& config)
      : max_examples_(config.get<std::int64_t>("max_examples", 0)) {
    if (max_examples_ < 0) config.fail("max_examples", "must be >= 0 (0 = all)");
  }

  void run(rlhf::StageContext& ctx) override {
    if (!ctx.data) throw rlhf::Error("data_stats: stage '" + ctx.stage_name + "' has no data");
    std::size_t n = ctx.data->size(rlhf::Split::train);
    if (max_examples_ > 0) n = std::min<std::size_t>(n, static_cast<std::size_t>(max_examples_));
    double prompt = 0, completion = 0;
    for (std::size_t i = 0; i < n && !ctx.stop_requested(); ++i) {
      const rlhf::Example e = ctx.data->at(i);
      prompt += characters(e.prompt);
      completion += characters(e.completion) + characters(e.chosen);
    }
    const double mean_prompt = n ? prompt / n : 0.0;
    const double mean_completion = n ? completion / n : 0.0;
    ctx.metrics->log(ctx.stage_name, 0, 0.0,
                     {{"examples", static_cast<double>(n)},
                      {"prompt_chars_mean", mean_prompt},
                      {"completion_chars_mean", mean_completion}});
    // Write to a temporary name, then rename: a crash never leaves a half-written file.
    const auto file = ctx.stage_dir / "data_stats.json";
    {
      std::ofstream out(file.string() + ".tmp");
      out << "{\"examples\": " << n << ", \"prompt_chars_mean\": " << mean_prompt
          << ", \"completion_chars_mean\": " << mean_completion << "}\n";
    }
    std::filesystem::rename(file.string() + ".tmp", file);
    ctx.logger->info("data_stats: {} examples, {:.1f} prompt / {:.1f} completion characters", n,
                     mean_prompt, mean_completion);
  }

 private:
  std::int64_t max_examples_;
};

}  // namespace

// The library's one exported entry point: kind, class, name (what pipelines write), version,
// one-line description (shown by `rlhf-host --list-plugins`).
RLHF_PLUGIN(rlhf::PluginKind::algorithm, DataStats, "data_stats", "0.1.0",
            "example: counts characters of a stage's data")
