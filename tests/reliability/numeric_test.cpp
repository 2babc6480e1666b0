// Numbers that are not finite stop the run (docs/reliability.md, families "non-finite
// training" and "numeric keys"). Each case once exited 0: a diverged run logged -nan and saved
// an all-NaN model, `num_train_epochs = inf` became -2^63 steps and an untrained "result",
// `threads = 100000` never finished starting. Now: exit 1, one line naming the stage and step
// or the file:line and key, and no result on disk.
#include <nlohmann/json.hpp>

#include "reliability_util.hpp"

using namespace rlhf::reliability;

namespace {

// A short SFT stage logging every step, with `extra` keys (one per line) added.
std::string sft_with(const std::string& extra, int steps = 3) {
  return sft_stage(sft_data().string(), steps) + "\nlogging_steps = 1\n" + extra;
}

HostResult run_pipeline(const TempDir& dir, const std::string& stage,
                        const std::vector<std::string>& args = {}, const std::string& extra = "") {
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), stage, extra);
  std::vector<std::string> argv = args;
  argv.push_back(pipeline.string());
  return run_host(argv, dir.path(), 120);
}

// No stage result: neither the model, the adapter nor the completion marker.
void expect_no_result(const TempDir& dir, const std::string& stage = "sft") {
  const fs::path stage_dir = dir / "run" / stage;
  EXPECT_FALSE(fs::exists(stage_dir / "model")) << "a result was saved from diverged weights";
  EXPECT_FALSE(fs::exists(stage_dir / "adapter")) << "a result was saved from diverged weights";
  EXPECT_FALSE(fs::exists(stage_dir / "stage_complete.json"));
}

// Every value metrics.jsonl holds is finite: a NaN is never written as a result (nlohmann
// would write it as null).
void expect_metrics_finite(const TempDir& dir) {
  std::ifstream in(dir / "run/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    for (const auto& [key, value] : j.items())
      EXPECT_FALSE(value.is_null()) << "metrics.jsonl holds a non-finite " << key << ": " << line;
  }
}

// A pipeline error is reported before any work starts: nothing under output_dir.
void expect_nothing_written(const TempDir& dir) {
  EXPECT_TRUE(tree(dir / "run").empty()) << "the run wrote files before the error";
}

}  // namespace

// ---- non-finite training -------------------------------------------------------------------

TEST(NonFiniteTraining, LearningRateTooHighStopsAtTheDivergingStep) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with("learning_rate = 1e10"));
  expect_error(r, {"stage 'sft', step 2", "training loss is nan", "learning_rate = 1e+10",
                   "no result saved"});
  expect_no_result(dir);
  expect_metrics_finite(dir);
  EXPECT_NE(read_file(dir / "run/run.log").find("step 2: the training loss is nan"),
            std::string::npos);
}

TEST(NonFiniteTraining, DivergenceKeepsTheCheckpointsWrittenBefore) {
  TempDir dir;
  // Warmup from 0: step 1 leaves the weights as they were, step 2's update blows them up, step
  // 3's loss is NaN. checkpoint-1 and checkpoint-2 were written before and are kept.
  auto r = run_pipeline(
      dir, sft_with("learning_rate = 1e10\nwarmup_steps = 2\nsave_steps = 1", /*steps=*/5));
  expect_error(r, {"stage 'sft', step 3", "checkpoint-2, is kept", "warmup_steps = 2"});
  expect_no_result(dir);
  EXPECT_TRUE(fs::exists(dir / "run/sft/checkpoint-1/trainer_state.json"));
  EXPECT_TRUE(fs::exists(dir / "run/sft/checkpoint-2/trainer_state.json"));
  EXPECT_FALSE(fs::exists(dir / "run/sft/checkpoint-3"));
  expect_metrics_finite(dir);
}

TEST(NonFiniteTraining, NonFiniteEvalLossStopsAndIsNotLogged) {
  TempDir dir;
  const std::string stage =
      "name = \"sft\"\nalgorithm = \"sft\"\nmax_steps = 3\nper_device_train_batch_size = 2\n"
      "per_device_eval_batch_size = 4\nmax_length = 64\nlogging_steps = 1\neval_steps = 1\n"
      "learning_rate = 1e10\ndata = { plugin = \"jsonl\", path = \"" +
      sft_data().string() + "\", eval_fraction = 0.02 }";
  auto r = run_pipeline(dir, stage);
  expect_error(r, {"stage 'sft', step 1", "eval_loss is nan", "learning_rate"});
  expect_no_result(dir);
  expect_metrics_finite(dir);
}

TEST(NonFiniteTraining, OptimizerOverflowIsADivergenceNotALibTorchMessage) {
  TempDir dir;
  // A step size beyond float's range: LibTorch throws "value cannot be converted to type float
  // without overflow" inside AdamW.
  auto r = run_pipeline(dir, sft_with("learning_rate = 1e39", /*steps=*/1));
  expect_error(r, {"stage 'sft', step 1", "optimizer update failed", "learning_rate = 1e+39"});
  expect_no_result(dir);
}

TEST(NonFiniteTraining, PreferenceAlgorithmsDivergeTheSameWay) {
  // One training loop for every algorithm: DPO (reference precomputed) and ORPO.
  for (const std::string algorithm : {"dpo", "orpo"}) {
    TempDir dir;
    const std::string stage = "name = \"" + algorithm + "\"\nalgorithm = \"" + algorithm +
                              "\"\nmax_steps = 3\nper_device_train_batch_size = 2\n"
                              "max_length = 64\nlogging_steps = 1\nlearning_rate = 1e10\n"
                              "data = { plugin = \"jsonl\", path = \"" +
                              pref_data().string() + "\" }";
    auto r = run_pipeline(dir, stage);
    expect_error(
        r, {"stage '" + algorithm + "', step 2", "training loss is nan", "learning_rate = 1e+10"});
    expect_no_result(dir, algorithm);
    expect_metrics_finite(dir);
  }
}

TEST(NonFiniteTraining, Bfloat16DivergenceNamesTheDtype) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), sft_with("learning_rate = 1e10"));
  auto r = run_host({pipeline.string(), "--set", "model.dtype=bfloat16"}, dir.path(), 120);
  expect_error(r, {"stage 'sft', step", "model.dtype = bfloat16 (try float32)"});
  expect_no_result(dir);
}

// ---- numeric keys --------------------------------------------------------------------------

TEST(NumericKeys, NanWarmupRatioIsRefusedAtItsLine) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with("warmup_ratio = nan"));
  // [run] 4 lines, [model] 3, a blank line, [[stage]], 6 lines of sft_stage(), logging_steps.
  expect_error(r, {"pipeline.toml:17:16", "'stage.sft.warmup_ratio'", "finite number, got nan"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, InfiniteEpochsAreRefused) {
  TempDir dir;
  const std::string stage =
      "name = \"sft\"\nalgorithm = \"sft\"\nnum_train_epochs = inf\nmax_length = 64\n"
      "data = { plugin = \"jsonl\", path = \"" +
      sft_data().string() + "\" }";
  auto r = run_pipeline(dir, stage);
  expect_error(r, {"pipeline.toml:12:20", "'stage.sft.num_train_epochs'", "got inf"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, EpochsBeyondAnyRealRunAreRefused) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with("num_train_epochs = 1e300"));
  expect_error(r, {"'stage.sft.num_train_epochs'", "at most 1e6"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, ZeroAdamEpsilonIsRefused) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with("adam_epsilon = 0.0"));
  expect_error(r, {"'stage.sft.adam_epsilon'", "must be > 0"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, PluginKeysAreCheckedToo) {
  TempDir dir;
  auto r =
      run_pipeline(dir, sft_with(""), {}, "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = -inf\n");
  expect_error(r, {"pipeline.toml:11:9", "'adapter.alpha'", "finite number, got -inf"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, NanThroughSetIsRefused) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with(""), {"--set", "stage.sft.learning_rate=nan"});
  expect_error(r, {"'stage.sft.learning_rate'", "finite number, got nan"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, CheckRefusesWhatTheRunWould) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with("max_grad_norm = inf"), {"--check"});
  expect_error(r, {"'stage.sft.max_grad_norm'", "got inf"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, OverflowingBatchSizeIsRefused) {
  TempDir dir;
  auto r = run_pipeline(dir, sft_with(""),
                        {"--set", "stage.sft.per_device_train_batch_size=9223372036854775807"});
  expect_error(r, {"'stage.sft.per_device_train_batch_size'", "at most 2147483647"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, AbsurdThreadCountIsRefusedNotAHang) {
  TempDir dir;
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), sft_with(""));
  auto r = run_host({pipeline.string(), "--set", "run.threads=100000"}, dir.path(), 60);
  expect_error(r, {"'run.threads'", "must be at most", "got 100000"});
  expect_nothing_written(dir);
}

TEST(NumericKeys, ThreadCountBeyondIntIsNotWrapped) {
  TempDir dir;
  // 2^32 + 1 once became 1 thread.
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), sft_with(""));
  auto r = run_host({pipeline.string(), "--set", "run.threads=4294967297"}, dir.path(), 60);
  expect_error(r, {"'run.threads'", "4294967297 is out of range"});
  expect_nothing_written(dir);
}
