// The two shipped PPO pipelines as the quickstart runs them (scripts/quickstart.sh: the same
// init-model settings, the shipped data and pipeline files), into a temporary folder: PPO must
// clearly raise the held-out mean reward over the SFT policy's (the acceptance; the
// numbers are in examples/README.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "reliability_util.hpp"

namespace rlhf::reliability {
namespace {

double mean_score(const fs::path& file, std::size_t expected_rows) {
  std::istringstream in(read_file(file));
  double sum = 0;
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) {
      sum += nlohmann::json::parse(line)["score"].get<double>();
      ++n;
    }
  EXPECT_EQ(n, expected_rows) << file;
  return n ? sum / static_cast<double>(n) : 0.0;
}

fs::path init_model(const fs::path& out, const std::string& corpus,
                    const std::vector<std::string>& shape) {
  std::vector<std::string> args = {
      "init-model", "--out", out.string(), "--corpus", (kSource / corpus).string(), "--seed", "0"};
  args.insert(args.end(), shape.begin(), shape.end());
  const HostResult r = run_host(args, kSource, 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return out;
}

TEST(PpoExamples, RuleRewardRaisesTheShareOfCorrectAnswers) {
  rlhf::test::TempDir dir;
  const fs::path model = init_model(
      dir.path() / "color", "examples/data/color_corpus.txt",
      {"--vocab-size", "400", "--hidden-size", "64", "--intermediate-size", "128", "--layers", "2",
       "--heads", "4", "--kv-heads", "2", "--max-position-embeddings", "128"});
  const HostResult r = run_host(
      {(kSource / "examples/ppo-rule.toml").string(), "--set", "model.path=" + model.string(),
       "--set", "run.output_dir=" + (dir.path() / "run").string()},
      kSource, 600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const double before = mean_score(dir.path() / "run/before/eval_completions.jsonl", 48);
  const double after = mean_score(dir.path() / "run/after/eval_completions.jsonl", 48);
  // Measured 0.167 → 0.875; the issue asks for at least double or ≥ 0.8.
  EXPECT_GE(after, 2 * before) << before << " -> " << after;
  EXPECT_GE(after, 0.6) << before << " -> " << after;
}

TEST(PpoExamples, LearnedRewardRaisesTheMeanReward) {
  rlhf::test::TempDir dir;
  const fs::path model = init_model(
      dir.path() / "tiny", "examples/data/polite_corpus.txt",
      {"--vocab-size", "512", "--hidden-size", "64", "--intermediate-size", "128", "--layers", "2",
       "--heads", "4", "--kv-heads", "2", "--max-position-embeddings", "256"});
  const fs::path out = dir.path() / "run";
  std::vector<std::string> args = {(kSource / "examples/sft-reward-ppo.toml").string(), "--set",
                                   "model.path=" + model.string(), "--set",
                                   "run.output_dir=" + out.string()};
  for (const char* stage : {"before", "ppo", "after"}) {
    args.push_back("--set");
    args.push_back(std::string("stage.") + stage +
                   ".reward_model.path=" + (out / "reward" / "model").string());
  }
  const HostResult r = run_host(args, kSource, 600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // The reward model ranks the held-out pairs (the issue: ≥ 0.9; measured 1.000).
  std::istringstream in(read_file(out / "reward_heldout" / "eval_predictions.jsonl"));
  double right = 0, pairs = 0;
  for (std::string line; std::getline(in, line);) {
    const auto row = nlohmann::json::parse(line);
    right += row["chosen_reward"].get<double>() > row["rejected_reward"].get<double>() ? 1 : 0;
    pairs += 1;
  }
  EXPECT_GE(right / pairs, 0.9);
  const double before = mean_score(out / "before" / "eval_completions.jsonl", 120);
  const double after = mean_score(out / "after" / "eval_completions.jsonl", 120);
  // Measured 0.664 → 2.122 (rewards are the classifier's logits).
  EXPECT_GT(after, before + 0.5) << before << " -> " << after;
}

}  // namespace
}  // namespace rlhf::reliability
