// `[adapter] path`: a PEFT adapter folder saved by one run (an SFT stage's adapter/) is where a
// later run's stage starts, through the rlhf-host binary. The log-probs the stage sees at its
// first step are checked against `rlhf-host logprobs --adapter` of the same folder, computed by
// another process.
#include <gtest/gtest.h>

#include <cmath>

#include "../reliability/peft_fixtures.hpp"

namespace rlhf::reliability {
namespace {

// Metrics line of `stage` at `step` in run folder `run`.
nlohmann::json metrics_at(const fs::path& run, const std::string& stage, int step) {
  for (const auto& line : read_jsonl(run / "metrics.jsonl"))
    if (line.value("stage", "") == stage && line.value("step", -1) == step &&
        line.contains("logps/chosen"))
      return line;
  ADD_FAILURE() << "no metrics line of stage " << stage << " at step " << step;
  return nlohmann::json::object();
}

double mean_of(const std::vector<nlohmann::json>& lines, const char* key) {
  double sum = 0;
  for (const auto& l : lines) sum += l.at(key).get<double>();
  return sum / static_cast<double>(lines.size());
}

TEST(AdapterPath, DpoStageStartsFromTheSftAdapterOfAnEarlierRun) {
  TempDir dir;
  const auto data = small_prefs(dir.path(), 4);
  const auto with_adapter = logprobs(tiny_model(), data, dir / "adapter.jsonl", sft_adapter());
  const auto base = logprobs(tiny_model(), data, dir / "base.jsonl");
  ASSERT_EQ(with_adapter.size(), 4u);
  ASSERT_EQ(base.size(), 4u);
  // The SFT adapter changes the model, or the comparisons below would prove nothing.
  EXPECT_GT(std::abs(mean_of(with_adapter, "chosen_logps") - mean_of(base, "chosen_logps")), 1e-2);

  // One step over all 4 pairs: the step-1 metrics are the starting policy's log-probs (policy =
  // base + SFT adapter; reference = adapter off = base).
  const double beta = 0.1;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     "name = \"dpo\"\nalgorithm = \"dpo\"\nmax_steps = 1\nlogging_steps = 1\n"
                     "per_device_train_batch_size = 4\nlearning_rate = 1e-3\nbeta = 0.1\n"
                     "data = { plugin = \"jsonl\", path = \"" +
                         data.string() + "\" }",
                     "[adapter]\npath = \"" + sft_adapter().string() + "\"\n");
  const auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("with adapter from " + sft_adapter().string()), std::string::npos)
      << r.output;
  const auto step1 = metrics_at(dir / "run", "dpo", 1);
  const double policy_chosen = mean_of(with_adapter, "chosen_logps");
  const double policy_rejected = mean_of(with_adapter, "rejected_logps");
  EXPECT_NEAR(step1["logps/chosen"].get<double>(), policy_chosen, 1e-4 * std::abs(policy_chosen));
  EXPECT_NEAR(step1["logps/rejected"].get<double>(), policy_rejected,
              1e-4 * std::abs(policy_rejected));
  const double reward = beta * (policy_chosen - mean_of(base, "chosen_logps"));
  EXPECT_NEAR(step1["rewards/chosen"].get<double>(), reward, 1e-4 + 1e-4 * std::abs(reward));
  // The continued adapter is saved in PEFT layout with the folder's settings.
  const auto config = nlohmann::json::parse(read_file(dir / "run/dpo/adapter/adapter_config.json"));
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["lora_alpha"], 8);
}

TEST(AdapterPath, EvalOnlyStageEvaluatesTheFolderPerExample) {
  TempDir dir;
  const auto data = small_prefs(dir.path(), 4);
  const auto with_adapter = logprobs(tiny_model(), data, dir / "adapter.jsonl", sft_adapter());
  const auto base = logprobs(tiny_model(), data, dir / "base.jsonl");
  // A stage override with `path`, and [adapter] keys that agree with the folder.
  const auto pipeline = write_pipeline(dir.path(), tiny_model(),
                                       "name = \"eval\"\nalgorithm = \"dpo\"\neval_only = true\n"
                                       "adapter = { path = \"" +
                                           sft_adapter().string() +
                                           "\" }\n"
                                           "data = { plugin = \"jsonl\", path = \"" +
                                           data.string() + "\" }",
                                       "[adapter]\nplugin = \"lora\"\nr = 4\nlora_alpha = 8\n"
                                       "target_modules = [\"v_proj\", \"q_proj\"]\n");
  const auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto predictions = read_jsonl(dir / "run/eval/eval_predictions.jsonl");
  ASSERT_EQ(predictions.size(), 4u);
  for (const auto& p : predictions) {
    const auto line = static_cast<std::size_t>(source_line(p) - 1);
    ASSERT_LT(line, 4u);
    for (const char* side : {"chosen_logps", "rejected_logps"}) {
      const double want = with_adapter[line][side].get<double>();
      EXPECT_NEAR(p[side].get<double>(), want, 1e-4 * std::abs(want)) << side << " line " << line;
      const double ref = base[line][side].get<double>();
      EXPECT_NEAR(p[std::string("ref_") + side].get<double>(), ref, 1e-4 * std::abs(ref));
    }
  }
}

TEST(AdapterPath, SftAdapterIsBothPolicyStartAndFrozenReference) {
  // TRL's two-adapter pattern through the binary: the later run's DPO stage starts from the SFT
  // adapter folder and takes the same folder, frozen, as its reference (ref_adapter = DIR), on an
  // eval_only pass: the reference log-probs are the SFT adapter's, not the base's.
  TempDir dir;
  const auto data = small_prefs(dir.path(), 4);
  const auto with_adapter = logprobs(tiny_model(), data, dir / "adapter.jsonl", sft_adapter());
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     "name = \"eval\"\nalgorithm = \"dpo\"\neval_only = true\nref_adapter = \"" +
                         sft_adapter().string() + "\"\ndata = { plugin = \"jsonl\", path = \"" +
                         data.string() + "\" }",
                     "[adapter]\npath = \"" + sft_adapter().string() + "\"\n");
  const auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto predictions = read_jsonl(dir / "run/eval/eval_predictions.jsonl");
  ASSERT_EQ(predictions.size(), 4u);
  for (const auto& p : predictions) {
    const auto line = static_cast<std::size_t>(source_line(p) - 1);
    ASSERT_LT(line, 4u);
    const double want = with_adapter[line]["chosen_logps"].get<double>();
    EXPECT_NEAR(p["ref_chosen_logps"].get<double>(), want, 1e-4 * std::abs(want));
    EXPECT_NEAR(p["chosen_logps"].get<double>(), want, 1e-4 * std::abs(want));
    EXPECT_NEAR(p["chosen_reward"].get<double>(), 0.0, 1e-4);
  }
}

}  // namespace
}  // namespace rlhf::reliability
