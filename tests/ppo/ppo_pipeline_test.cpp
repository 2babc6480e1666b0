// The `ppo` stage as users run it: rlhf-host as a process on the tiny model with a LoRA adapter
// and the test reward model "test_length" (a completion scores `scale` × its length in bytes,
// tests/plugins/test_length), so every score in the output files can be checked independently.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "reliability_util.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::reliability {
namespace {

using Json = nlohmann::json;

const std::string kPlugins = std::string(RLHF_TEST_PLUGIN_DIR) + "/good";
const std::string kAdapter =
    "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\ntarget_modules = \"all-linear\"\n";

std::vector<Json> read_jsonl(const fs::path& path) {
  std::vector<Json> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(Json::parse(line));
  return rows;
}

std::string ppo_stage(const std::string& extra) {
  return "name = \"ppo\"\nalgorithm = \"ppo\"\n"
         "reward_model = { plugin = \"test_length\", scale = 0.01 }\n"
         "per_device_train_batch_size = 4\nnum_mini_batches = 2\nnum_ppo_epochs = 2\n"
         "response_length = 8\nlearning_rate = 1e-3\nlogging_steps = 1\n" +
         extra;
}

HostResult run(const fs::path& pipeline, const std::vector<std::string>& more = {}) {
  std::vector<std::string> args = {"--plugin-path", kPlugins, pipeline.string()};
  args.insert(args.begin(), more.begin(), more.end());
  return run_host(args, fs::current_path(), 300);
}

TEST(PpoPipeline, TrainsWritesSamplesAndScoresTheEvalSplit) {
  rlhf::test::TempDir dir;
  const fs::path p = write_pipeline(
      dir.path(), tiny_model(),
      ppo_stage("total_episodes = 16\nnum_sample_generations = 2\ndata = { plugin = \"jsonl\", "
                "path = \"" +
                sft_data().string() + "\", eval_fraction = 0.01 }"),
      kAdapter);
  const HostResult r = run(p);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const fs::path stage = dir.path() / "run" / "ppo";
  EXPECT_TRUE(fs::exists(stage / "adapter" / "adapter_model.safetensors"));

  // 16 episodes / 8 per rollout = 2 rollouts × 2 epochs × 2 mini-batches = 8 optimizer steps,
  // every one logged with TRL's names.
  std::vector<Json> train;
  for (const auto& m : read_jsonl(dir.path() / "run" / "metrics.jsonl"))
    if (m.contains("loss/policy_avg")) train.push_back(m);
  ASSERT_EQ(train.size(), 8u) << r.output;
  for (const char* name :
       {"objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward",
        "objective/scores", "policy/approxkl_avg", "policy/clipfrac_avg", "policy/entropy_avg",
        "loss/policy_avg", "loss/value_avg", "val/clipfrac_avg", "val/ratio", "val/num_eos_tokens",
        "episode", "learning_rate"})
    EXPECT_TRUE(train.front().contains(name)) << name;
  EXPECT_EQ(train.back()["step"], 8);
  EXPECT_EQ(train.back()["episode"], 16);
  // At the first step the policy is the one that sampled: ratio 1, no KL to the reference yet
  // (LoRA's B starts at 0, so the adapter changes nothing before the first update).
  EXPECT_NEAR(train.front()["val/ratio"].get<double>(), 1.0, 1e-4);
  EXPECT_NEAR(train.front()["objective/kl"].get<double>(), 0.0, 1e-4);

  // samples.jsonl: from both rollouts, each score = 0.01 × bytes of its completion.
  const auto samples = read_jsonl(stage / "samples.jsonl");
  ASSERT_EQ(samples.size(), 8u);
  for (const auto& s : samples)
    EXPECT_NEAR(s["score"].get<double>(), 0.01 * s["completion"].get<std::string>().size(), 1e-5);

  // The eval split (1% of 480 → 5 prompts) scored after training.
  const auto eval = read_jsonl(stage / "eval_completions.jsonl");
  ASSERT_EQ(eval.size(), 5u);
  for (const auto& e : eval) {
    EXPECT_NEAR(e["score"].get<double>(), 0.01 * e["completion"].get<std::string>().size(), 1e-5);
    EXPECT_GE(e["completion_tokens"].get<int>(), 1);
    EXPECT_LE(e["completion_tokens"].get<int>(), 8);
    EXPECT_NE(e["source"].get<std::string>().find("polite_sft.jsonl:"), std::string::npos);
    EXPECT_TRUE(e["prompt"].is_string());
  }
}

TEST(PpoPipeline, EvalOnlyIsDeterministicAndLogsTheMeanScore) {
  rlhf::test::TempDir dir;
  write_file(dir.path() / "prompts.jsonl",
             "{\"prompt\": \"What is 2 plus 2?\"}\n{\"prompt\": \"How do I make tea?\"}\n"
             "{\"prompt\": \"What is 3 times 4?\"}\n");
  const fs::path p = write_pipeline(
      dir.path(), tiny_model(),
      ppo_stage("eval_only = true\nper_device_eval_batch_size = 2\ndata = { plugin = \"jsonl\", "
                "path = \"" +
                (dir.path() / "prompts.jsonl").string() + "\" }"),
      kAdapter);
  const HostResult first = run(p);
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  const fs::path file = dir.path() / "run" / "ppo" / "eval_completions.jsonl";
  const auto rows = read_jsonl(file);
  ASSERT_EQ(rows.size(), 3u);
  double mean = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["index"], i);
    EXPECT_EQ(rows[i]["source"],
              (dir.path() / "prompts.jsonl").string() + ":" + std::to_string(i + 1));
    mean += rows[i]["score"].get<double>() / 3;
  }
  bool logged = false;
  for (const auto& m : read_jsonl(dir.path() / "run" / "metrics.jsonl"))
    if (m.contains("eval_objective/scores")) {
      EXPECT_NEAR(m["eval_objective/scores"].get<double>(), mean, 1e-6);
      logged = true;
    }
  EXPECT_TRUE(logged);
  // Same seed, same samples.
  const std::string before = read_file(file);
  ASSERT_EQ(run(p, {"--overwrite"}).exit_code, 0);
  EXPECT_EQ(read_file(file), before);
}

// --resume from a checkpoint at a rollout-batch boundary continues exactly: the next batch's
// prompts and sampling seed depend only on its number, the Trainer restores the rest.
TEST(PpoPipeline, ResumeAtARolloutBoundaryEndsWithTheSameWeights) {
  rlhf::test::TempDir dir;
  // 24 episodes / 8 per batch = 3 batches × 2 epochs × 2 mini-batches = 12 steps; a checkpoint
  // every 4 steps is one per batch.
  const fs::path p = write_pipeline(
      dir.path(), tiny_model(),
      ppo_stage("total_episodes = 24\nsave_steps = 4\ndata = { plugin = \"jsonl\", path = \"" +
                sft_data().string() + "\" }"),
      kAdapter);
  ASSERT_EQ(run(p).exit_code, 0);
  const fs::path stage = dir.path() / "run" / "ppo";
  const fs::path whole = dir.path() / "uninterrupted.safetensors";
  fs::copy_file(stage / "adapter" / "adapter_model.safetensors", whole);
  // As if the run had been stopped right after checkpoint-4.
  for (const char* gone : {"checkpoint-8", "checkpoint-12", "adapter", "stage_complete.json"})
    fs::remove_all(stage / gone);
  const HostResult resumed = run(p, {"--resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_NE(resumed.output.find("resumed from " + (stage / "checkpoint-4").string()),
            std::string::npos)
      << resumed.output;
  SafetensorsFile a(whole), b(stage / "adapter" / "adapter_model.safetensors");
  ASSERT_EQ(a.names(), b.names());
  for (const auto& name : a.names()) EXPECT_TRUE(a.load(name).equal(b.load(name))) << name;
}

TEST(PpoPipeline, FullFineTuningComparesWithAFrozenCopyOfTheStartingPolicy) {
  rlhf::test::TempDir dir;
  const fs::path p =
      write_pipeline(dir.path(), tiny_model(),
                     ppo_stage("total_episodes = 16\ndata = { plugin = \"jsonl\", path = \"" +
                               sft_data().string() + "\" }"));
  const HostResult r = run(p);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("reference: a frozen copy of the starting policy"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "run" / "ppo" / "model" / "model.safetensors"));
  std::vector<Json> train;
  for (const auto& m : read_jsonl(dir.path() / "run" / "metrics.jsonl"))
    if (m.contains("objective/kl")) train.push_back(m);
  ASSERT_EQ(train.size(), 8u);
  // The first rollout samples from the reference itself; the second from a policy 4 updates on.
  EXPECT_NEAR(train.front()["objective/kl"].get<double>(), 0.0, 1e-5);
  EXPECT_GT(std::abs(train.back()["objective/kl"].get<double>()), 1e-4);
}

// Reward models that break the contract (tests/plugins/test_reward_nan, test_reward_count):
// the stage stops with one line naming what came back; nothing is trained on it.
TEST(PpoPipeline, AScoreThatIsNotANumberOrAMissingScoreIsAClearError) {
  rlhf::test::TempDir dir;
  const std::string faults = std::string(RLHF_TEST_PLUGIN_DIR) + "/reward_faults";
  const std::string data =
      "total_episodes = 8\ndata = { plugin = \"jsonl\", path = \"" + sft_data().string() + "\" }";
  for (const std::string plugin : {"test_reward_nan", "test_reward_count"}) {
    SCOPED_TRACE(plugin);
    const fs::path sub = dir.path() / plugin;
    fs::create_directories(sub);
    std::string stage = ppo_stage(data);
    stage.replace(stage.find("test_length\", scale = 0.01"),
                  std::string("test_length\", scale = 0.01").size(), plugin + "\"");
    const fs::path p = write_pipeline(sub, tiny_model(), stage, kAdapter);
    const HostResult r = run(p, {"--plugin-path", faults});
    if (plugin == "test_reward_nan")
      expect_error(r, {"stage 'ppo': the reward model returned nan for the completion of",
                       "polite_sft.jsonl:", "a score must be a finite number"});
    else
      expect_error(r, {"stage 'ppo': the reward model returned 7 scores for 8 completions"});
    EXPECT_FALSE(fs::exists(sub / "run" / "ppo" / "adapter"));
    EXPECT_FALSE(fs::exists(sub / "run" / "ppo" / "stage_complete.json"));
  }
}

TEST(PpoPipeline, BadInputIsOneClearError) {
  rlhf::test::TempDir dir;
  const std::string data =
      "data = { plugin = \"jsonl\", path = \"" + sft_data().string() + "\" }\n";
  auto check = [&](const std::string& name, const std::string& stage, const std::string& extra,
                   std::initializer_list<std::string> needles, bool also_check = true) {
    SCOPED_TRACE(name);
    const fs::path sub = dir.path() / name;
    fs::create_directories(sub);
    const fs::path p = write_pipeline(sub, tiny_model(), stage, extra);
    expect_error(run(p), needles);
    if (also_check) expect_error(run(p, {"--check"}), needles);
  };
  // No reward model.
  check("no_reward",
        "name = \"ppo\"\nalgorithm = \"ppo\"\nresponse_length = 4\ntotal_episodes = 4\n" + data,
        kAdapter, {"stage 'ppo'", "needs a reward model", "reward_model"});
  // A prompt over the budget: named by file and line.
  check("long_prompt", ppo_stage("max_prompt_length = 4\n" + data), kAdapter,
        {"polite_sft.jsonl:1", "max_prompt_length = 4"});
  // Keys.
  check("estimator", ppo_stage("kl_estimator = \"k2\"\n" + data), kAdapter,
        {"kl_estimator", "k1", "k3"});
  check("max_steps", ppo_stage("max_steps = 3\n" + data), kAdapter,
        {"max_steps", "total_episodes"});
  check("precompute", ppo_stage("precompute_ref_log_probs = true\n" + data), kAdapter,
        {"precompute_ref_log_probs"});
  // A classifier folder without a score head (a causal LM): named, before anything is generated.
  std::string classifier = ppo_stage(data);
  const std::string length = "{ plugin = \"test_length\", scale = 0.01 }";
  classifier.replace(classifier.find(length), length.size(),
                     "{ plugin = \"classifier\", path = \"" + tiny_model().string() + "\" }");
  check("no_score_head", classifier, kAdapter, {tiny_model().string(), "no tensor 'score.weight'"},
        /*also_check=*/false);
}

}  // namespace
}  // namespace rlhf::reliability
