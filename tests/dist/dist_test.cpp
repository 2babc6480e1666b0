// Data-parallel training through the binary (docs/architecture.md, "Data parallel"): ranks on
// loopback started by `rlhf-host --nproc N` or by torchrun's environment, compared with one rank
// training on the same global batch; and what the others do when a rank dies or hangs.
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <regex>

#include "../reliability/reliability_util.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::dist_test {
namespace {

using namespace rlhf::reliability;
using nlohmann::json;

constexpr double kTolerance = 1e-5;

// The first `n` lines of a shipped data file: 13 examples make 7 micro-batches of 2 (the last
// of one example) per epoch, so the step that ends an epoch holds 3 micro-batches of the 4 a
// step takes: 2 on rank 0 and 1 on rank 1.
fs::path head_of(const fs::path& data, const fs::path& dir, int n) {
  std::ifstream in(data);
  std::string text, line;
  for (int i = 0; i < n && std::getline(in, line); ++i) text += line + "\n";
  const fs::path out = dir / data.filename();
  write_file(out, text);
  return out;
}

// A one-stage LoRA pipeline in `dir` (output `dir/run`). `accumulation` is per rank.
fs::path write_dist_pipeline(const fs::path& dir, const std::string& algorithm,
                             const fs::path& data, int accumulation,
                             const std::string& extra_keys = "", int timeout_s = 20,
                             const std::string& data_keys = "", const std::string& run_keys = "") {
  std::ostringstream toml;
  toml << "[run]\noutput_dir = \"" << (dir / "run").string()
       << "\"\nseed = 3\nthreads = 1\ndist_timeout_s = " << timeout_s << "\n"
       << run_keys << "[model]\npath = \"" << tiny_model().string()
       << "\"\nchat_template = \"zephyr\"\n"
       << "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\ndropout = 0.0\n"
       << "target_modules = \"all-linear\"\n"
       << "[[stage]]\nname = \"" << algorithm << "\"\nalgorithm = \"" << algorithm << "\"\n"
       << "learning_rate = 1e-2\nper_device_train_batch_size = 2\n"
       << "gradient_accumulation_steps = " << accumulation << "\n"
       << "logging_steps = 1\nmax_length = 64\n"
       << extra_keys << "data = { plugin = \"jsonl\", path = \"" << data.string() << "\""
       << data_keys << " }\n";
  write_file(dir / "pipeline.toml", toml.str());
  return dir / "pipeline.toml";
}

std::vector<json> metrics_lines(const fs::path& run_dir) {
  std::vector<json> out;
  std::ifstream in(run_dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// max |a - b| over every tensor of two adapter_model.safetensors (same names, same shapes).
double max_adapter_difference(const fs::path& a, const fs::path& b) {
  SafetensorsFile fa(a / "adapter_model.safetensors"), fb(b / "adapter_model.safetensors");
  EXPECT_EQ(fa.names(), fb.names());
  double worst = 0;
  for (const auto& name : fa.names()) {
    if (!fb.contains(name)) return INFINITY;
    torch::Tensor x = fa.load(name), y = fb.load(name);
    EXPECT_EQ(x.sizes(), y.sizes()) << name;
    worst =
        std::max(worst, (x.to(torch::kDouble) - y.to(torch::kDouble)).abs().max().item<double>());
  }
  return worst;
}

// Every numeric value of the two metrics.jsonl agrees (but wall-clock throughput), line by line.
void expect_same_metrics(const std::vector<json>& one, const std::vector<json>& two) {
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i]["step"], two[i]["step"]) << "line " << i;
    for (const auto& [key, value] : one[i].items()) {
      if (key == "tokens_per_second" || !value.is_number()) continue;
      ASSERT_TRUE(two[i].contains(key)) << "line " << i << " lacks " << key;
      const double a = value.get<double>(), b = two[i][key].get<double>();
      EXPECT_LE(std::abs(a - b), kTolerance * std::max(1.0, std::abs(a)))
          << "line " << i << " " << key << ": one rank " << a << ", two ranks " << b;
    }
  }
}

// Files of a run folder but the TensorBoard runs (<stage>/runs/<time>_<host>/…), named by time.
std::set<std::string> result_files(const fs::path& run_dir) {
  std::set<std::string> out;
  for (const auto& name : tree(run_dir))
    if (name.find("/runs") == std::string::npos) out.insert(name);
  return out;
}

struct AlgorithmCase {
  std::string name;
  std::string algorithm;
  std::string data;  // "sft" or "pref"
  int examples;      // the first lines of the data file
  std::string keys;
  std::string data_keys;
  std::string run_keys;  // e.g. small all-reduce buckets
};

class TwoRanksEqualOne : public ::testing::TestWithParam<AlgorithmCase> {};

// 2 ranks × 2 accumulation steps × batch 2 against 1 rank × 4 × 2: the same global batch of 8,
// the same examples in it, the same loss trajectory and final adapter (fp32, ≤ 1e-5), over two
// epochs whose last step is short (some ranks take fewer micro-batches than others, or none),
// and for dpo and orpo with an eval split evaluated every 2 steps, sharded over the ranks.
TEST_P(TwoRanksEqualOne, SameLossTrajectoryAndFinalAdapter) {
  const AlgorithmCase& c = GetParam();
  TempDir one_dir, two_dir;
  const fs::path source = c.data == "sft" ? sft_data() : pref_data();
  const std::string keys = c.keys + "num_train_epochs = 2\n";
  const auto one =
      write_dist_pipeline(one_dir.path(), c.algorithm, head_of(source, one_dir.path(), c.examples),
                          4, keys, 20, c.data_keys, c.run_keys);
  const auto two =
      write_dist_pipeline(two_dir.path(), c.algorithm, head_of(source, two_dir.path(), c.examples),
                          2, keys, 20, c.data_keys, c.run_keys);
  const auto r1 = run_host({one.string()}, one_dir.path(), 300);
  ASSERT_EQ(r1.exit_code, 0) << r1.describe();
  const auto r2 =
      run_host({"--nproc", "2", two.string(), "--log-level", "debug"}, two_dir.path(), 300);
  ASSERT_EQ(r2.exit_code, 0) << r2.describe();
  // How the gradient buckets went: with run.dist_bucket_mb small, several, some started while
  // backward still ran.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r2.output, m, std::regex("gradient all-reduce: ([0-9]+) of ([0-9]+) buckets started")))
      << r2.output;
  if (!c.run_keys.empty()) {
    EXPECT_GE(std::stoi(m[2]), 4) << m[0];
    EXPECT_GE(std::stoi(m[1]), 1) << m[0];
  }
  EXPECT_NE(r2.output.find("data parallel: 2 ranks (2 on this machine), 1 threads each"),
            std::string::npos)
      << r2.output;
  EXPECT_NE(r2.output.find("4 x 2 micro-batches per step (2 per rank on 2 ranks)"),
            std::string::npos)
      << r2.output;

  const auto m1 = metrics_lines(one_dir / "run"), m2 = metrics_lines(two_dir / "run");
  ASSERT_GE(m1.size(), 4u) << "4 optimizer steps, one line each";
  expect_same_metrics(m1, m2);
  const fs::path stage = fs::path("run") / c.algorithm;
  const double diff =
      max_adapter_difference(one_dir / stage / "adapter", two_dir / stage / "adapter");
  EXPECT_LE(diff, kTolerance);
  if (fs::exists(one_dir / stage / "reference_logps.safetensors")) {
    SafetensorsFile a(one_dir / stage / "reference_logps.safetensors"),
        b(two_dir / stage / "reference_logps.safetensors");
    for (const auto& name : a.names())
      EXPECT_TRUE(a.load(name).equal(b.load(name))) << name << ": every row, bit for bit";
  }
  // Rank 1 wrote nothing rank 0 did not: the same files, one metrics line per step.
  EXPECT_EQ(result_files(one_dir / "run"), result_files(two_dir / "run"));
}

INSTANTIATE_TEST_SUITE_P(
    Dist, TwoRanksEqualOne,
    ::testing::Values(
        // 13 examples: 7 micro-batches an epoch, the last of one example; steps of 4 and 3.
        // ~4 KB buckets: a dozen, started while backward runs, in the same order on every rank.
        AlgorithmCase{"sft", "sft", "sft", 13, "", "", "dist_bucket_mb = 0.004\n"},
        // The reference live on every rank (absent, the eval split would be precomputed).
        AlgorithmCase{"dpo", "dpo", "pref", 17,
                      "beta = 0.2\nprecompute_ref_log_probs = false\neval_steps = 2\n"
                      "per_device_eval_batch_size = 2\n",
                      ", eval_fraction = 0.25", ""},
        AlgorithmCase{"orpo", "orpo", "pref", 13,
                      "beta = 0.3\neval_steps = 2\nper_device_eval_batch_size = 1\n",
                      ", eval_fraction = 0.2", "dist_bucket_mb = 0.004\n"},
        // Gradient checkpointing: the gradients complete inside the recomputation's backward.
        AlgorithmCase{"sft_checkpointed", "sft", "sft", 13, "gradient_checkpointing = true\n", "",
                      "dist_bucket_mb = 0.004\n"},
        // The reference log-probs are computed per shard and gathered before training.
        AlgorithmCase{"dpo_precomputed", "dpo", "pref", 17,
                      "beta = 0.2\nprecompute_ref_log_probs = true\neval_steps = 2\n"
                      "per_device_eval_batch_size = 3\n",
                      ", eval_fraction = 0.25", ""},
        // precompute_ref_log_probs absent: 2 steps × 8 examples (4 per rank on 2 ranks) read all
        // 12 train pairs, so the train split is precomputed on one rank and on two alike (the
        // reference_logps.safetensors both write, compared above) — counted per rank it would
        // be 8 of 12, live on two ranks only.
        AlgorithmCase{"dpo_auto", "dpo", "pref", 17,
                      "beta = 0.2\nmax_steps = 2\neval_steps = 1\nper_device_eval_batch_size = 3\n",
                      ", eval_fraction = 0.25", ""}),
    [](const auto& info) { return info.param.name; });

// The comparison above can fail: rank 1's half of the batch changes the result, so one rank on
// half the global batch ends elsewhere.
TEST(Dist, HalfTheGlobalBatchEndsWithAnotherAdapter) {
  TempDir half_dir, two_dir;
  const auto half = write_dist_pipeline(
      half_dir.path(), "sft", head_of(sft_data(), half_dir.path(), 13), 2, "max_steps = 4\n");
  const auto two = write_dist_pipeline(
      two_dir.path(), "sft", head_of(sft_data(), two_dir.path(), 13), 2, "max_steps = 4\n");
  ASSERT_EQ(run_host({half.string()}, half_dir.path()).exit_code, 0);
  const auto r = run_host({"--nproc", "2", two.string()}, two_dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_GT(max_adapter_difference(half_dir / "run/sft/adapter", two_dir / "run/sft/adapter"),
            1e-4);
}

// A free TCP port on 127.0.0.1 (for MASTER_PORT; free when asked, as torchrun picks one).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t length = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::map<std::string, std::string> torchrun_env(int rank, int port) {
  return {{"RANK", std::to_string(rank)},       {"WORLD_SIZE", "2"},
          {"LOCAL_RANK", std::to_string(rank)}, {"LOCAL_WORLD_SIZE", "2"},
          {"MASTER_ADDR", "127.0.0.1"},         {"MASTER_PORT", std::to_string(port)}};
}

// A long SFT run with a checkpoint every 5 steps.
fs::path long_pipeline(const fs::path& dir, int accumulation, int timeout_s) {
  return write_dist_pipeline(dir, "sft", sft_data(), accumulation,
                             "max_steps = 200\nsave_steps = 5\n", timeout_s);
}

// Blocks until rank 0 logged optimizer step `step` of the long pipeline (true), or the process
// ended.
bool wait_for_step(HostProcess& process, int step) {
  return process.wait_for_output("step " + std::to_string(step) + "/200 ", 120);
}

// No checkpoint under its real name is missing a file (a staged one keeps its temporary name).
void expect_complete_checkpoints(const fs::path& stage_dir) {
  for (const auto& entry : fs::directory_iterator(stage_dir)) {
    const std::string name = entry.path().filename();
    if (name.rfind("checkpoint-", 0) != 0 || name.find('.') != std::string::npos) continue;
    for (const char* file : {"trainer_state.json", "trainable.pt", "optimizer.pt", "rng.pt"})
      EXPECT_TRUE(fs::exists(entry.path() / file)) << name << " lacks " << file;
  }
}

// Started by torchrun's environment, not --nproc: rank 1 is killed (SIGKILL) mid-run; rank 0
// names it and exits 1 at once (its connection closed), leaving whole checkpoints only; the run
// resumes from the newest on one rank with the same global batch, and ends with the adapter an
// uninterrupted run ends with.
TEST(Dist, KilledRankStopsTheOtherAndTheRunResumesOnOneRank) {
  TempDir dir, reference_dir;
  const auto pipeline = long_pipeline(dir.path(), 1, 20);
  const int port = free_port();
  HostProcess rank0({pipeline.string()}, dir.path(), torchrun_env(0, port));
  HostProcess rank1({pipeline.string()}, dir.path(), torchrun_env(1, port));
  ASSERT_TRUE(wait_for_step(rank0, 12)) << rank0.output_so_far();
  ::kill(rank1.pid(), SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  const auto r0 = rank0.wait(60);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  expect_error(r0, {"rank 0: ", "failed: rank 1 stopped responding"});
  EXPECT_LT(seconds, 20.0) << "within run.dist_timeout_s";
  rank1.wait(10);
  expect_complete_checkpoints(dir / "run/sft");
  EXPECT_FALSE(fs::exists(dir / "run/sft/adapter"));

  // A copy resumes on one rank (the global batch is then half as large: it trains on, as asked).
  TempDir copy;
  fs::copy(dir.path(), copy.path(), fs::copy_options::recursive);
  const auto copy_pipeline = write_dist_pipeline(copy.path(), "sft", sft_data(), 1,
                                                 "max_steps = 200\nsave_steps = 5\n", 20);
  const auto one_rank = run_host({copy_pipeline.string(), "--resume"}, copy.path());
  ASSERT_EQ(one_rank.exit_code, 0) << one_rank.describe();
  EXPECT_NE(one_rank.output.find("resumed from " + (copy / "run/sft/checkpoint-").string()),
            std::string::npos)
      << one_rank.output;
  EXPECT_NE(one_rank.output.find("was written by 2 rank(s) and resumes on 1: a step now takes 2 "
                                 "examples instead of 4"),
            std::string::npos)
      << one_rank.output;
  EXPECT_TRUE(fs::exists(copy / "run/sft/adapter/adapter_model.safetensors"));

  // Resumed on two ranks it ends where an uninterrupted run on the same global batch does.
  const auto two_ranks = run_host({"--nproc", "2", pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(two_ranks.exit_code, 0) << two_ranks.describe();
  EXPECT_NE(two_ranks.output.find("resumed from " + (dir / "run/sft/checkpoint-").string()),
            std::string::npos)
      << two_ranks.output;
  const auto reference = long_pipeline(reference_dir.path(), 2, 20);
  ASSERT_EQ(run_host({reference.string()}, reference_dir.path()).exit_code, 0);
  EXPECT_LE(max_adapter_difference(dir / "run/sft/adapter", reference_dir / "run/sft/adapter"),
            kTolerance);
}

// A rank that stops answering (SIGSTOP: alive, its sockets open) is noticed by the timeout:
// rank 0 exits 1 within run.dist_timeout_s (+ the seconds it takes to name the rank).
TEST(Dist, HungRankIsNoticedWithinTheTimeout) {
  TempDir dir;
  const auto pipeline = long_pipeline(dir.path(), 1, 8);
  const int port = free_port();
  HostProcess rank0({pipeline.string()}, dir.path(), torchrun_env(0, port));
  HostProcess rank1({pipeline.string()}, dir.path(), torchrun_env(1, port));
  ASSERT_TRUE(wait_for_step(rank0, 3)) << rank0.output_so_far();
  ::kill(rank1.pid(), SIGSTOP);
  const auto stopped_at = std::chrono::steady_clock::now();
  const auto r0 = rank0.wait(60);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  expect_error(r0, {"rank 0: ", "rank 1 stopped responding", "run.dist_timeout_s = 8"});
  EXPECT_GE(seconds, 7.0) << "it waited for the timeout";
  EXPECT_LT(seconds, 20.0);
  expect_complete_checkpoints(dir / "run/sft");
}

// The ranks' pids under an `rlhf-host --nproc` launcher, by rank (from their environment).
std::map<int, pid_t> ranks_of(pid_t launcher) {
  std::map<int, pid_t> out;
  std::istringstream children(read_file("/proc/" + std::to_string(launcher) + "/task/" +
                                        std::to_string(launcher) + "/children"));
  pid_t pid;
  while (children >> pid) {
    const std::string env = read_file("/proc/" + std::to_string(pid) + "/environ");
    std::smatch m;
    const std::regex rank(std::string("(^|") + '\0' + ")RANK=([0-9]+)");
    if (std::regex_search(env, m, rank)) out[std::stoi(m[2])] = pid;
  }
  return out;
}

// Under --nproc: the launcher names the rank that was killed, rank 0 names it too, and both
// exit non-zero without waiting for a timeout.
TEST(Dist, NprocNamesTheKilledRank) {
  TempDir dir;
  const auto pipeline = long_pipeline(dir.path(), 1, 30);
  HostProcess launcher({"--nproc", "2", pipeline.string()}, dir.path());
  ASSERT_TRUE(wait_for_step(launcher, 3)) << launcher.output_so_far();
  const auto ranks = ranks_of(launcher.pid());
  ASSERT_EQ(ranks.size(), 2u) << launcher.output_so_far();
  ::kill(ranks.at(1), SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  const auto r = launcher.wait(60);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  // Rank 0's error line, then the launcher's.
  EXPECT_TRUE(std::regex_search(r.output, std::regex("rlhf-host: error: rank 0: [^\n]* failed: "
                                                     "rank 1 stopped responding")))
      << r.output;
  EXPECT_NE(r.output.find("rlhf-host: error: --nproc 2: rank 1 failed (killed by signal 9"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("rank 0: exit 1"), std::string::npos) << r.output;
  EXPECT_LT(seconds, 20.0) << "no rank waited for the 30 s timeout";
}

// SIGTERM to the launcher reaches every rank: they agree on the step, rank 0 checkpoints, all
// exit 130, and so does the launcher.
TEST(Dist, NprocPassesAStopOnToEveryRank) {
  TempDir dir;
  const auto pipeline = long_pipeline(dir.path(), 1, 30);
  HostProcess launcher({"--nproc", "2", pipeline.string()}, dir.path());
  ASSERT_TRUE(wait_for_step(launcher, 3)) << launcher.output_so_far();
  launcher.send(SIGTERM);
  const auto r = launcher.wait(60);
  EXPECT_EQ(r.exit_code, 130) << r.describe();
  bool checkpointed = false;
  for (const auto& entry : fs::directory_iterator(dir / "run/sft"))
    checkpointed |= entry.path().filename().string().rfind("checkpoint-", 0) == 0;
  EXPECT_TRUE(checkpointed);
  expect_complete_checkpoints(dir / "run/sft");
}

// Under torchrun's environment a stop reaches one rank only (SIGTERM to rank 1): the ranks agree
// on it after the step, rank 0 checkpoints, and both exit 130 at the same step.
TEST(Dist, AStopOnOneRankStopsEveryRankAtTheSameStep) {
  TempDir dir;
  const auto pipeline = long_pipeline(dir.path(), 1, 30);
  const int port = free_port();
  HostProcess rank0({pipeline.string()}, dir.path(), torchrun_env(0, port));
  HostProcess rank1({pipeline.string()}, dir.path(), torchrun_env(1, port));
  ASSERT_TRUE(wait_for_step(rank0, 3)) << rank0.output_so_far();
  rank1.send(SIGTERM);
  const auto r0 = rank0.wait(60), r1 = rank1.wait(60);
  EXPECT_EQ(r0.exit_code, 130) << r0.describe();
  EXPECT_EQ(r1.exit_code, 130) << r1.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r0.output, m, std::regex("stopped at step ([0-9]+)/200")))
      << r0.output;
  EXPECT_TRUE(fs::exists(dir / "run/sft" / ("checkpoint-" + m[1].str()))) << r0.output;
  EXPECT_NE(r1.output.find("[rank 1] [sft] stopped at step " + m[1].str() + "/200"),
            std::string::npos)
      << r1.output;
  expect_complete_checkpoints(dir / "run/sft");
}

// A PPO pipeline on the tiny model (output `dir/run`, or `output_dir`): 40 color prompts, 8 of
// them the eval split; rollout batches of 2 × `accumulation` × ranks × 2 mini-batches = 16 rows,
// generated in 4 chunks of 4 (2 per rank on 2 ranks), sampled at temperature 0.7; 2 rollouts ×
// 2 PPO epochs × 2 mini-batches = 8 optimizer steps; the eval split in 3 batches of 3, 3 and 2.
fs::path write_ppo_pipeline(const fs::path& dir, int accumulation, const fs::path& output_dir = {},
                            const std::string& extra_keys = "") {
  const fs::path prompts = head_of(kSource / "examples/data/color_prompts.jsonl", dir, 40);
  std::ostringstream toml;
  toml << "[run]\noutput_dir = \"" << (output_dir.empty() ? dir / "run" : output_dir).string()
       << "\"\nseed = 3\nthreads = 1\ndist_timeout_s = 20\n"
       << "[model]\npath = \"" << tiny_model().string() << "\"\nchat_template = \"zephyr\"\n"
       << "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\ndropout = 0.0\n"
       << "target_modules = \"all-linear\"\n"
       << "[[stage]]\nname = \"ppo\"\nalgorithm = \"ppo\"\nlearning_rate = 1e-2\n"
       << "per_device_train_batch_size = 2\ngradient_accumulation_steps = " << accumulation
       << "\nnum_mini_batches = 2\nnum_ppo_epochs = 2\ntotal_episodes = 32\n"
       << "response_length = 6\nlocal_rollout_forward_batch_size = 4\n"
       << "missing_eos_penalty = 0.5\nper_device_eval_batch_size = 3\n"
       << "num_sample_generations = 2\nlogging_steps = 1\n"
       << extra_keys
       << "reward_model = { plugin = \"rule\", rules = [ { kind = \"regex\", pattern = \"e\" }, "
       << "{ kind = \"length\", target = 4, weight = -0.1 } ] }\n"
       << "data = { plugin = \"jsonl\", path = \"" << prompts.string()
       << "\", eval_fraction = 0.2 }\n";
  write_file(dir / "pipeline.toml", toml.str());
  return dir / "pipeline.toml";
}

std::vector<json> jsonl_lines(const fs::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// PPO on 2 ranks × 2 accumulation steps against 1 rank × 4: every rank generates, scores and
// runs the policy, the reference and the critic over its chunks of each rollout batch, the
// chunks are gathered, and the update's micro-batches are sharded like any stage's. The same
// rollouts (completions, scores), the same metrics every step (rollout statistics, losses, KL,
// clip fractions), the same final adapter (fp32, ≤ 1e-5) and the same eval completions.
TEST(Dist, PpoOnTwoRanksTrainsAsOneRank) {
  TempDir one_dir, two_dir;
  const auto one = write_ppo_pipeline(one_dir.path(), 4);
  const auto two = write_ppo_pipeline(two_dir.path(), 2);
  const auto r1 = run_host({one.string()}, one_dir.path(), 300);
  ASSERT_EQ(r1.exit_code, 0) << r1.describe();
  const auto r2 = run_host({"--nproc", "2", two.string()}, two_dir.path(), 300);
  ASSERT_EQ(r2.exit_code, 0) << r2.describe();
  EXPECT_NE(r2.output.find("2 rollout batches of 16 × 2 epochs × 2 mini-batches"),
            std::string::npos)
      << r2.output;
  EXPECT_NE(r2.output.find("4 x 2 micro-batches per step (2 per rank on 2 ranks)"),
            std::string::npos)
      << r2.output;

  const auto m1 = metrics_lines(one_dir / "run"), m2 = metrics_lines(two_dir / "run");
  // 8 training lines and the eval line after training.
  ASSERT_EQ(m1.size(), 9u) << read_file(one_dir / "run/metrics.jsonl");
  ASSERT_EQ(m2.size(), m1.size());
  for (std::size_t i = 0; i < m1.size(); ++i) {
    EXPECT_EQ(m1[i]["step"], m2[i]["step"]) << "line " << i;
    std::size_t compared = 0;
    for (const auto& [key, value] : m1[i].items()) {
      if (key.find("tokens_per_second") != std::string::npos || !value.is_number()) continue;
      ASSERT_TRUE(m2[i].contains(key)) << "line " << i << " lacks " << key;
      const double a = value.get<double>(), b = m2[i][key].get<double>();
      EXPECT_LE(std::abs(a - b), kTolerance * std::max(1.0, std::abs(a)))
          << "line " << i << " " << key << ": one rank " << a << ", two ranks " << b;
      ++compared;
    }
    EXPECT_GE(compared, i + 1 < m1.size() ? 15u : 4u) << m1[i].dump();
  }
  // The training moved: the policy's ratio left 1 and the value head learned.
  EXPECT_GT(m1[7]["policy/approxkl_avg"].get<double>(), 0.0);
  EXPECT_NE(m1[0]["objective/scores"], m1[7]["objective/scores"]) << "two rollout batches";

  const double diff =
      max_adapter_difference(one_dir / "run/ppo/adapter", two_dir / "run/ppo/adapter");
  EXPECT_LE(diff, kTolerance);

  // samples.jsonl: the first 4 rows of both rollouts, which rank 0 generated only in part on two
  // ranks (rows 4–7 of a batch are rank 1's chunk); eval_completions.jsonl: all 8 eval prompts.
  const auto s1 = jsonl_lines(one_dir / "run/ppo/samples.jsonl"),
             s2 = jsonl_lines(two_dir / "run/ppo/samples.jsonl");
  ASSERT_EQ(s1.size(), 8u);
  EXPECT_EQ(s1, s2);
  const auto e1 = jsonl_lines(one_dir / "run/ppo/eval_completions.jsonl"),
             e2 = jsonl_lines(two_dir / "run/ppo/eval_completions.jsonl");
  ASSERT_EQ(e1.size(), 8u);
  ASSERT_EQ(e2.size(), 8u);
  for (std::size_t i = 0; i < e1.size(); ++i) {
    EXPECT_EQ(e2[i]["index"], i);
    EXPECT_EQ(e1[i]["completion"], e2[i]["completion"]) << "eval row " << i;
    EXPECT_EQ(e1[i]["score"], e2[i]["score"]) << "eval row " << i;
  }
  EXPECT_EQ(result_files(one_dir / "run"), result_files(two_dir / "run"));
}

// Stopped after the first rollout batch's 4 steps (checkpoint-4), a 2-rank PPO run resumes on 2
// ranks, regenerates the second batch from the checkpoint's weights, and ends with the adapter of
// the uninterrupted run, bit for bit.
TEST(Dist, PpoResumesOnTwoRanksAtARolloutBoundary) {
  TempDir dir;
  const auto pipeline = write_ppo_pipeline(dir.path(), 2, {}, "save_steps = 4\n");
  ASSERT_EQ(run_host({"--nproc", "2", pipeline.string()}, dir.path(), 300).exit_code, 0);
  const fs::path stage = dir / "run/ppo";
  const fs::path whole = dir / "uninterrupted.safetensors";
  fs::copy_file(stage / "adapter/adapter_model.safetensors", whole);
  for (const char* gone : {"checkpoint-8", "adapter", "stage_complete.json"})
    fs::remove_all(stage / gone);
  const auto resumed = run_host({"--nproc", "2", pipeline.string(), "--resume"}, dir.path(), 300);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_NE(resumed.output.find("resumed from " + (stage / "checkpoint-4").string()),
            std::string::npos)
      << resumed.output;
  SafetensorsFile a(whole), b(stage / "adapter/adapter_model.safetensors");
  ASSERT_EQ(a.names(), b.names());
  for (const auto& name : a.names()) EXPECT_TRUE(a.load(name).equal(b.load(name))) << name;
}

// Rank 0 alone writes: rank 1, started by torchrun's environment with its own pipeline file
// whose output_dir is another folder, trains along (the collectives pair the ranks up) and
// leaves that folder uncreated: no samples.jsonl, eval_completions.jsonl, metrics, adapter.
TEST(Dist, PpoRankOneWritesNothing) {
  TempDir dir, elsewhere;
  const auto pipeline0 = write_ppo_pipeline(dir.path(), 2);
  const auto pipeline1 = write_ppo_pipeline(elsewhere.path(), 2, elsewhere / "run");
  const int port = free_port();
  HostProcess rank0({pipeline0.string()}, dir.path(), torchrun_env(0, port));
  HostProcess rank1({pipeline1.string()}, elsewhere.path(), torchrun_env(1, port));
  const auto r0 = rank0.wait(300), r1 = rank1.wait(60);
  ASSERT_EQ(r0.exit_code, 0) << r0.describe();
  ASSERT_EQ(r1.exit_code, 0) << r1.describe();
  for (const char* file : {"samples.jsonl", "eval_completions.jsonl", "adapter"})
    EXPECT_TRUE(fs::exists(dir / "run/ppo" / file)) << file;
  EXPECT_FALSE(fs::exists(elsewhere / "run")) << "rank 1 wrote into its output_dir";
}

TEST(Dist, BadLaunchesAreRefused) {
  TempDir dir;
  const auto pipeline = write_dist_pipeline(dir.path(), "sft", sft_data(), 1, "max_steps = 1\n");
  auto r = run_host({"--nproc", "0", pipeline.string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.output.find("--nproc must be at least 1, got 0"), std::string::npos) << r.output;
  r = run_host({"--nproc", "2", pipeline.string()}, dir.path(), 60, torchrun_env(0, 1));
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.output.find("use one launcher"), std::string::npos) << r.output;
  r = run_host({pipeline.string()}, dir.path(), 60, {{"WORLD_SIZE", "2"}});
  expect_error(r, {"WORLD_SIZE=2 but RANK is not set"});
  r = run_host({pipeline.string()}, dir.path(), 60, {{"WORLD_SIZE", "2"}, {"RANK", "2"}});
  expect_error(r, {"RANK=2 is not below WORLD_SIZE=2"});
  r = run_host({pipeline.string(), "--set", "run.dist_timeout_s=0"}, dir.path());
  expect_error(r, {"dist_timeout_s", "must be between 1 and 604800 seconds, got 0"});
}

}  // namespace
}  // namespace rlhf::dist_test
