// The reference log-probs' default through the real rlhf-host binary: with
// precompute_ref_log_probs absent, a split is precomputed (cached in
// <stage_dir>/reference_logps.safetensors) when the stage reads every one of its rows, else the
// reference runs live (docs/algorithms.md, "DPO"); `false` keeps every split live. The numbers of
// an automatically precomputed run are the live run's up to float32 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../reliability/reliability_util.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::reliability {
namespace {

using Json = nlohmann::json;

const std::string kAdapter =
    "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\ntarget_modules = \"all-linear\"\n";

std::vector<Json> read_jsonl(const fs::path& path) {
  std::vector<Json> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(Json::parse(line));
  return rows;
}

// The first `n` pairs of the shipped preference data after skipping `skip`, as a file in `dir`.
fs::path pairs_file(const fs::path& dir, const std::string& name, int skip, int n) {
  std::istringstream in(read_file(pref_data()));
  std::string out, line;
  for (int i = 0; i < skip + n && std::getline(in, line); ++i)
    if (i >= skip) out += line + "\n";
  write_file(dir / name, out);
  return dir / name;
}

// A DPO (or `algorithm`) stage named "pref" on `data` (a jsonl table body), learning rate high
// enough that the policy moves away from the reference within a few steps.
std::string pref_stage(const std::string& keys, const std::string& data,
                       const std::string& algorithm = "dpo") {
  return "name = \"pref\"\nalgorithm = \"" + algorithm +
         "\"\nbeta = 0.2\nlearning_rate = 1e-2\nlogging_steps = 1\nmax_length = 64\n" + keys +
         "data = { plugin = \"jsonl\", " + data + " }";
}

struct StageRun {
  HostResult result;
  fs::path stage;  // run/pref
  std::string log;
  std::vector<Json> metrics;
};

StageRun run_stage(const fs::path& dir, const std::string& stage,
                   const std::string& extra = kAdapter) {
  StageRun r;
  const fs::path p = write_pipeline(dir, tiny_model(), stage, extra);
  r.result = run_host({p.string()}, fs::current_path(), 300);
  r.stage = dir / "run" / "pref";
  r.log = read_file(dir / "run" / "run.log");
  r.metrics = read_jsonl(dir / "run" / "metrics.jsonl");
  return r;
}

// The "reference log-probs: …" line of the run log.
std::string decision(const StageRun& r) {
  const auto at = r.log.find("reference log-probs: ");
  if (at == std::string::npos) return "";
  return r.log.substr(at, r.log.find('\n', at) - at);
}

// The cached table of `split` ("train"/"eval"): its shape, or {} when the file or entry is absent.
std::vector<std::int64_t> cached_shape(const StageRun& r, const std::string& split) {
  const fs::path cache = r.stage / "reference_logps.safetensors";
  if (!fs::exists(cache)) return {};
  SafetensorsFile file(cache);
  if (!file.contains(split + ".sum")) return {};
  return file.entry(split + ".sum").shape;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ReferencePrecompute, AbsentKeyPrecomputesWhenTheRunReadsEveryRow) {
  TempDir dir;
  const fs::path train = pairs_file(dir.path(), "train.jsonl", 0, 12);
  const fs::path eval = pairs_file(dir.path(), "eval.jsonl", 100, 4);
  const std::string data =
      "path = \"" + train.string() + "\", eval_path = \"" + eval.string() + "\"";
  // 2 steps × 2 micro-batches × 3 pairs = 12 pairs: the whole train split.
  StageRun r = run_stage(dir.path(), pref_stage("max_steps = 2\nper_device_train_batch_size = 2\n"
                                                "gradient_accumulation_steps = 3\n",
                                                data));
  ASSERT_EQ(r.result.exit_code, 0) << r.result.describe();
  EXPECT_EQ(cached_shape(r, "train"), (std::vector<std::int64_t>{12, 2}));
  EXPECT_EQ(cached_shape(r, "eval"), (std::vector<std::int64_t>{4, 2}));
  const std::string line = decision(r);
  EXPECT_TRUE(has(line, "precomputed once")) << line;
  EXPECT_TRUE(has(line, "precompute_ref_log_probs not set")) << line;
  EXPECT_TRUE(has(line, "2 optimizer steps x 6 examples read every one of the 12 train rows"))
      << line;
  EXPECT_TRUE(has(line, "all 4 eval rows")) << line;
  EXPECT_TRUE(has(r.log, "reference: the policy with its adapter disabled, precomputed")) << r.log;
}

TEST(ReferencePrecompute, FalseKeepsEverySplitLive) {
  TempDir dir;
  const fs::path train = pairs_file(dir.path(), "train.jsonl", 0, 12);
  const fs::path eval = pairs_file(dir.path(), "eval.jsonl", 100, 4);
  StageRun r = run_stage(
      dir.path(),
      pref_stage("num_train_epochs = 2\nper_device_train_batch_size = 4\n"
                 "precompute_ref_log_probs = false\n",
                 "path = \"" + train.string() + "\", eval_path = \"" + eval.string() + "\""));
  ASSERT_EQ(r.result.exit_code, 0) << r.result.describe();
  EXPECT_FALSE(fs::exists(r.stage / "reference_logps.safetensors"));
  EXPECT_TRUE(has(decision(r), "live")) << decision(r);
  EXPECT_TRUE(has(decision(r), "(precompute_ref_log_probs = false)")) << decision(r);
  EXPECT_TRUE(has(r.log, "reference: the policy with its adapter disabled\n")) << r.log;
}

TEST(ReferencePrecompute, AShortRunOverALargeSplitKeepsTheTrainSplitLive) {
  TempDir dir;
  // 2 optimizer steps × 2 pairs of the 480 training pairs: precomputing every row would cost
  // 480 forwards to save 4. The 4 eval pairs are read by the final evaluation: precomputed.
  const fs::path eval = pairs_file(dir.path(), "eval.jsonl", 0, 4);
  StageRun r = run_stage(dir.path(), pref_stage("max_steps = 2\nper_device_train_batch_size = 2\n",
                                                "path = \"" + pref_data().string() +
                                                    "\", eval_path = \"" + eval.string() + "\""));
  ASSERT_EQ(r.result.exit_code, 0) << r.result.describe();
  EXPECT_EQ(cached_shape(r, "train"), std::vector<std::int64_t>{});
  EXPECT_EQ(cached_shape(r, "eval"), (std::vector<std::int64_t>{4, 2}));
  const std::string line = decision(r);
  EXPECT_TRUE(has(line, "precomputed for the eval split, live for the other")) << line;
  EXPECT_TRUE(has(line, "2 optimizer steps x 2 examples visit 4 of the 480 train rows")) << line;
  EXPECT_TRUE(has(r.log, "precomputed for the eval split (train live)")) << r.log;

  // Without an eval split nothing is precomputed: no cache file.
  TempDir bare;
  StageRun b = run_stage(bare.path(), pref_stage("max_steps = 2\nper_device_train_batch_size = 2\n",
                                                 "path = \"" + pref_data().string() + "\""));
  ASSERT_EQ(b.result.exit_code, 0) << b.result.describe();
  EXPECT_FALSE(fs::exists(b.stage / "reference_logps.safetensors"));
  EXPECT_TRUE(has(decision(b), "live, one no-grad forward per batch")) << decision(b);
}

TEST(ReferencePrecompute, ResumeReadsTheCachedSplitsOnly) {
  // The cache of a partly live stage holds the eval split alone; --resume from checkpoint-1
  // takes it from there (the train split stays live) instead of computing it again.
  TempDir dir;
  const fs::path eval = pairs_file(dir.path(), "eval.jsonl", 0, 4);
  const std::string stage =
      pref_stage("max_steps = 2\nsave_steps = 1\nper_device_train_batch_size = 2\n",
                 "path = \"" + pref_data().string() + "\", eval_path = \"" + eval.string() + "\"");
  StageRun first = run_stage(dir.path(), stage);
  ASSERT_EQ(first.result.exit_code, 0) << first.result.describe();
  ASSERT_EQ(cached_shape(first, "eval"), (std::vector<std::int64_t>{4, 2}));
  // As if stopped after checkpoint-1.
  for (const char* gone : {"stage_complete.json", "checkpoint-2", "adapter"})
    fs::remove_all(first.stage / gone);
  const HostResult resumed =
      run_host({(dir.path() / "pipeline.toml").string(), "--resume"}, fs::current_path(), 300);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_TRUE(has(resumed.output, "--resume: reference log-probs from " +
                                      (first.stage / "reference_logps.safetensors").string()))
      << resumed.output;
  EXPECT_TRUE(has(resumed.output, "resumed from " + (first.stage / "checkpoint-1").string()))
      << resumed.output;
  EXPECT_FALSE(has(resumed.output, "precomputed reference log-probs of")) << resumed.output;
  EXPECT_TRUE(fs::exists(first.stage / "adapter" / "adapter_model.safetensors"));
}

// The same pipeline, precompute_ref_log_probs absent (precomputed: 3 epochs of 12 pairs) and
// false (live): every logged number within a relative 1e-4 and the trained adapters within
// 1e-5. What differs is only the rounding of the reference's float32 log-prob sums (a row summed
// in a training batch of 4 pairs vs the precompute pass's batch of 8, padded and packed
// differently): ~190 × 6e-8 ≈ 1e-5 on a sum, 2e-6 on a reward (β = 0.2). Observed: 4e-6 relative
// on the metrics, 2e-7 on the adapter weights (|w| ≤ 0.2); the tolerances leave a margin of 25×
// and more, while one wrong reference row (another pair's log-probs) moves a reward by β times
// the gap between two pairs' sums: nats, not 1e-5.
void expect_same_numbers(const StageRun& a, const StageRun& b) {
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  int compared = 0;
  for (std::size_t i = 0; i < a.metrics.size(); ++i)
    for (const auto& [name, value] : a.metrics[i].items()) {
      if (!value.is_number_float() || name == "tokens_per_second" || name == "epoch") continue;
      ASSERT_TRUE(b.metrics[i].contains(name)) << name;
      const double x = value.get<double>(), y = b.metrics[i][name].get<double>();
      EXPECT_NEAR(x, y, 1e-4 * std::max(1.0, std::abs(x))) << name << " at line " << i;
      ++compared;
    }
  EXPECT_GT(compared, 20);
  SafetensorsFile wa(a.stage / "adapter" / "adapter_model.safetensors");
  SafetensorsFile wb(b.stage / "adapter" / "adapter_model.safetensors");
  ASSERT_EQ(wa.names(), wb.names());
  for (const auto& name : wa.names()) {
    const auto x = wa.load(name), y = wb.load(name);
    EXPECT_LT((x - y).abs().max().item<double>(), 1e-5) << name;
  }
}

TEST(ReferencePrecompute, AutomaticallyPrecomputedRunMatchesTheLiveRun) {
  TempDir dir;
  const fs::path train = pairs_file(dir.path(), "train.jsonl", 0, 12);
  const fs::path eval = pairs_file(dir.path(), "eval.jsonl", 100, 4);
  const std::string stage =
      "num_train_epochs = 3\nper_device_train_batch_size = 4\n"
      "per_device_eval_batch_size = 8\neval_steps = 4\n";
  const std::string data =
      "path = \"" + train.string() + "\", eval_path = \"" + eval.string() + "\"";
  TempDir pre_dir, live_dir;
  StageRun pre = run_stage(pre_dir.path(), pref_stage(stage, data));
  StageRun live =
      run_stage(live_dir.path(), pref_stage(stage + "precompute_ref_log_probs = false\n", data));
  ASSERT_EQ(pre.result.exit_code, 0) << pre.result.describe();
  ASSERT_EQ(live.result.exit_code, 0) << live.result.describe();
  ASSERT_TRUE(fs::exists(pre.stage / "reference_logps.safetensors"));
  ASSERT_FALSE(fs::exists(live.stage / "reference_logps.safetensors"));
  expect_same_numbers(pre, live);
  // The policy did move away from the reference (rewards are not all 0).
  double margins = 0;
  for (const auto& m : live.metrics) margins = m.value("eval_rewards/margins", margins);
  EXPECT_GT(std::abs(margins), 1e-3);
}

TEST(ReferencePrecompute, EvalOnlyPrecomputesWithTheEvaluationsOwnBatches) {
  // eval_only reads each eval row once, in the precompute pass's own batches: the reference
  // log-probs written to eval_predictions.jsonl are the live pass's, bit for bit.
  TempDir pre_dir, live_dir;
  const fs::path eval = pairs_file(pre_dir.path(), "eval.jsonl", 0, 10);
  const std::string stage = "eval_only = true\nper_device_eval_batch_size = 4\n";
  const std::string data = "path = \"" + eval.string() + "\"";
  StageRun pre = run_stage(pre_dir.path(), pref_stage(stage, data));
  StageRun live =
      run_stage(live_dir.path(), pref_stage(stage + "precompute_ref_log_probs = false\n", data));
  ASSERT_EQ(pre.result.exit_code, 0) << pre.result.describe();
  ASSERT_EQ(live.result.exit_code, 0) << live.result.describe();
  EXPECT_EQ(cached_shape(pre, "eval"), (std::vector<std::int64_t>{10, 2}));
  EXPECT_FALSE(fs::exists(live.stage / "reference_logps.safetensors"));
  const auto a = read_jsonl(pre.stage / "eval_predictions.jsonl");
  const auto b = read_jsonl(live.stage / "eval_predictions.jsonl");
  ASSERT_EQ(a.size(), 10u);
  EXPECT_EQ(a, b);
}

TEST(ReferencePrecompute, RefModelIsReleasedOnceEveryRowIsPrecomputed) {
  // A full fine-tune against a separate ref_model (a copy of the starting model): precomputed
  // automatically, the reference model's weights are released before training, and the numbers
  // are the live ref_model run's.
  TempDir pre_dir, live_dir;
  const fs::path train = pairs_file(pre_dir.path(), "train.jsonl", 0, 8);
  const std::string stage =
      "num_train_epochs = 2\nper_device_train_batch_size = 4\n"
      "ref_model = \"" +
      tiny_model().string() + "\"\n";
  const std::string data = "path = \"" + train.string() + "\"";
  StageRun pre = run_stage(pre_dir.path(), pref_stage(stage, data), "");
  StageRun live = run_stage(live_dir.path(),
                            pref_stage(stage + "precompute_ref_log_probs = false\n", data), "");
  ASSERT_EQ(pre.result.exit_code, 0) << pre.result.describe();
  ASSERT_EQ(live.result.exit_code, 0) << live.result.describe();
  EXPECT_TRUE(has(pre.log, "ref_model released: every row's reference log-probs are precomputed"))
      << pre.log;
  EXPECT_TRUE(has(pre.log, "reference: ref_model " + tiny_model().string() + ", precomputed"))
      << pre.log;
  EXPECT_FALSE(has(live.log, "ref_model released")) << live.log;
  ASSERT_EQ(pre.metrics.size(), live.metrics.size());
  ASSERT_FALSE(pre.metrics.empty());
  for (std::size_t i = 0; i < pre.metrics.size(); ++i)
    for (const char* name : {"loss", "rewards/chosen", "rewards/margins", "logps/rejected"}) {
      const double x = live.metrics[i].at(name).get<double>();
      EXPECT_NEAR(pre.metrics[i].at(name).get<double>(), x, 1e-4 * std::max(1.0, std::abs(x)))
          << name << " at step " << i + 1;
    }
}

TEST(ReferencePrecompute, KtoFollowsTheSameRule) {
  // KTO splits each of the 8 pairs into 2 rows: 16 train rows, read in full by 2 steps × 8.
  TempDir dir;
  const fs::path train = pairs_file(dir.path(), "train.jsonl", 0, 8);
  StageRun r = run_stage(dir.path(), pref_stage("max_steps = 2\nper_device_train_batch_size = 8\n",
                                                "path = \"" + train.string() + "\"", "kto"));
  ASSERT_EQ(r.result.exit_code, 0) << r.result.describe();
  EXPECT_EQ(cached_shape(r, "train"), (std::vector<std::int64_t>{16, 2}));
  EXPECT_TRUE(
      has(decision(r), "2 optimizer steps x 8 examples read every one of the 16 train rows"))
      << decision(r);
  // One step fewer reaches only half: live.
  TempDir half;
  StageRun h = run_stage(half.path(), pref_stage("max_steps = 1\nper_device_train_batch_size = 8\n",
                                                 "path = \"" + train.string() + "\"", "kto"));
  ASSERT_EQ(h.result.exit_code, 0) << h.result.describe();
  EXPECT_FALSE(fs::exists(h.stage / "reference_logps.safetensors"));
}

}  // namespace
}  // namespace rlhf::reliability
