// A run folder belongs to one run (docs/reliability.md, families "run folder ownership",
// "atomic writes + cleanup" and "subcommand --out"), through the rlhf-host binary: a second run
// into a locked folder, a new run into a folder with results, --overwrite, --resume against
// changed inputs, leftovers of interrupted writes, and `--out DIR/ --force`.
#include "event_file.hpp"
#include "reliability_util.hpp"

using namespace rlhf::reliability;

namespace {

const std::string kLora = "[adapter]\nplugin = \"lora\"\nr = 4\ntarget_modules = \"all-linear\"\n";

// An SFT stage of `steps` steps with a checkpoint and a metrics line every step.
std::string checkpointed_stage(const fs::path& data, int steps) {
  return sft_stage(data.string(), steps) + "\nsave_steps = 1\nlogging_steps = 1";
}

int count_lines(const fs::path& file) {
  const std::string text = read_file(file);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// A second tiny model, same shapes as tiny_model() but other weights (init-model --seed 5).
fs::path other_tiny_model() {
  static const fs::path dir = [] {
    fs::path out = rlhf::test::process_temp_path("other-tiny-model");
    auto r = run_host({"init-model", "--out", out.string(), "--corpus",
                       (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size",
                       "400", "--hidden-size", "32", "--intermediate-size", "64",
                       "--max-position-embeddings", "256", "--seed", "5"},
                      fs::current_path(), 120);
    if (r.exit_code != 0) ADD_FAILURE() << "init-model failed: " << r.describe();
    return out;
  }();
  return dir;
}

// Runs a pipeline and expects success.
void run_ok(const std::vector<std::string>& args, const TempDir& dir) {
  auto r = run_host(args, dir.path(), 180);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
}

// A LoRA SFT run of two steps completed in dir/run; returns the pipeline file.
fs::path completed_lora_run(const TempDir& dir, const fs::path& model, const fs::path& data) {
  const fs::path pipeline = write_pipeline(dir.path(), model, checkpointed_stage(data, 2), kLora);
  run_ok({pipeline.string()}, dir);
  EXPECT_TRUE(fs::exists(dir / "run/sft/stage_complete.json"));
  return pipeline;
}

}  // namespace

// ---- run folder ownership -------------------------------------------------------------------

TEST(RunFolder, SecondRunIntoALockedFolderIsRefused) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 100000));
  HostProcess first({pipeline.string()}, dir.path());
  ASSERT_TRUE(first.wait_for_output("[sft] training", 120)) << first.output_so_far();
  const std::string before = read_file(dir / "run/run.log");

  auto second = run_host({pipeline.string()}, dir.path(), 120);
  expect_error(second, {(dir / "run").string(), "in use by another rlhf-host run",
                        "pid " + std::to_string(first.pid()), pipeline.string()});
  // The second run touched nothing: the first one's log goes on, its results stay.
  EXPECT_EQ(read_file(dir / "run/run.log").find("in use by another"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "run/sft"));
  first.send(SIGKILL);
  first.wait();
  // The kernel released the lock of the killed run: the next run proceeds.
  auto third =
      run_host({pipeline.string(), "--overwrite", "--set", "stage.sft.max_steps=1"}, dir.path());
  EXPECT_EQ(third.exit_code, 0) << third.describe();
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors"));
}

TEST(RunFolder, LockOfAKilledRunDoesNotBlockResume) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 12));
  HostProcess first({pipeline.string()}, dir.path());
  ASSERT_TRUE(first.wait_for_output("[sft] training", 120)) << first.output_so_far();
  first.send(SIGKILL);
  EXPECT_EQ(first.wait().signal, SIGKILL);
  EXPECT_TRUE(fs::exists(dir / "run/.rlhf-host.lock"));
  auto resumed = run_host({pipeline.string(), "--resume"}, dir.path());
  EXPECT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_TRUE(fs::exists(dir / "run/sft/stage_complete.json"));
}

TEST(RunFolder, ExistingResultsAreRefusedWithoutResumeOrOverwrite) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 2));
  run_ok({pipeline.string()}, dir);
  const std::string metrics = read_file(dir / "run/metrics.jsonl");
  const auto files = tree(dir / "run");

  auto again = run_host({pipeline.string()}, dir.path());
  expect_error(again, {(dir / "run").string(), "holds the results of a previous run",
                       "metrics.jsonl", "sft/checkpoint-1", "--resume", "--overwrite"});
  EXPECT_EQ(read_file(dir / "run/metrics.jsonl"), metrics) << "metrics were appended to";
  EXPECT_EQ(tree(dir / "run"), files);
}

TEST(RunFolder, OverwriteRemovesOnlyWhatRlhfHostWrote) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 3));
  run_ok({pipeline.string()}, dir);
  ASSERT_EQ(count_lines(dir / "run/metrics.jsonl"), 3);
  write_file(dir / "run/notes.txt", "mine\n");
  write_file(dir / "run/mydata/keep.jsonl", "{}\n");
  const auto old_events = rlhf::test::event_files(dir / "run/sft/runs");
  ASSERT_EQ(old_events.size(), 1u);

  auto r =
      run_host({pipeline.string(), "--overwrite", "--set", "stage.sft.max_steps=2"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(count_lines(dir / "run/metrics.jsonl"), 2) << "the previous run's metrics remain";
  // The stage's TensorBoard run is the new one alone (the event file names the writing pid).
  const auto events = rlhf::test::event_files(dir / "run/sft/runs");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0], old_events[0]);
  std::set<std::int64_t> steps;
  for (const auto& e : rlhf::test::read_scalars(events[0]))
    if (e.tag == "train/loss") steps.insert(e.step);
  EXPECT_EQ(steps, (std::set<std::int64_t>{1, 2}));
  EXPECT_FALSE(fs::exists(dir / "run/sft/checkpoint-3")) << "the previous run's checkpoint";
  EXPECT_TRUE(fs::exists(dir / "run/sft/checkpoint-2/trainer_state.json"));
  EXPECT_EQ(read_file(dir / "run/notes.txt"), "mine\n");
  EXPECT_EQ(read_file(dir / "run/mydata/keep.jsonl"), "{}\n");
  const std::string log = read_file(dir / "run/run.log");
  EXPECT_NE(log.find("--overwrite: removed " + (dir / "run/sft").string()), std::string::npos)
      << log;
  EXPECT_NE(log.find("--overwrite: kept mydata, notes.txt"), std::string::npos) << log;
}

TEST(RunFolder, OverwriteNeverFollowsSymbolicLinks) {
  TempDir dir;
  // Outside the run folder, shaped like a stage folder, and reached through two links.
  write_file(dir / "precious/stage_complete.json", "{}\n");
  write_file(dir / "precious/checkpoint-1/trainer_state.json", "{}\n");
  write_file(dir / "precious/metrics.jsonl", "{\"loss\": 1}\n");
  const auto precious = tree(dir / "precious");
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 1));
  run_ok({pipeline.string()}, dir);
  fs::create_directory_symlink(dir / "precious", dir / "run/linked");
  fs::create_directory_symlink(dir / "precious", dir / "run/sft/linked");
  fs::remove(dir / "run/run.log");
  fs::create_symlink(dir / "precious/metrics.jsonl", dir / "run/run.log");

  run_ok({pipeline.string(), "--overwrite"}, dir);
  EXPECT_EQ(tree(dir / "precious"), precious);
  EXPECT_EQ(read_file(dir / "precious/metrics.jsonl"), "{\"loss\": 1}\n");
  EXPECT_TRUE(fs::is_symlink(dir / "run/linked")) << "a link is not a stage folder: kept";
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "run/sft/linked")))
      << "removed with the stage folder, as a link";
  EXPECT_FALSE(fs::is_symlink(dir / "run/run.log")) << "the link was removed, a new log written";
}

TEST(RunFolder, ResumeAndOverwriteTogetherAreAUsageError) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 1));
  auto r = run_host({pipeline.string(), "--resume", "--overwrite"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.output.find("--resume and --overwrite contradict each other"), std::string::npos)
      << r.describe();
  EXPECT_FALSE(fs::exists(dir / "run"));
}

// ---- --resume checks the stage's fingerprint --------------------------------------------------

TEST(Resume, RefusesAnotherBaseModelUnderTheAdapter) {
  TempDir dir;
  const fs::path pipeline = completed_lora_run(dir, tiny_model(), sft_data());
  const auto files = tree(dir / "run");
  auto r = run_host(
      {pipeline.string(), "--resume", "--set", "model.path=" + other_tiny_model().string()},
      dir.path());
  expect_error(r, {"--resume", (dir / "run/sft").string(),
                   "model.path: was \"" + tiny_model().string() + "\", now \"" +
                       other_tiny_model().string() + "\"",
                   "--overwrite"});
  EXPECT_EQ(tree(dir / "run"), files);
}

TEST(Resume, RefusesAModelReplacedInPlace) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  const fs::path pipeline = completed_lora_run(dir, model, sft_data());
  fs::copy_file(other_tiny_model() / "model.safetensors", model / "model.safetensors",
                fs::copy_options::overwrite_existing);
  auto r = run_host({pipeline.string(), "--resume"}, dir.path());
  expect_error(r, {"model.path: \"" + model.string() + "\" changed since the run started",
                   "model.safetensors changed"});
}

TEST(Resume, RefusesChangedAdapterSettings) {
  TempDir dir;
  const fs::path pipeline = completed_lora_run(dir, tiny_model(), sft_data());
  auto r = run_host({pipeline.string(), "--resume", "--set", "adapter.r=8"}, dir.path());
  expect_error(r, {"adapter.r: was 4, now 8"});
}

TEST(Resume, RefusesAChangedDataFile) {
  TempDir dir;
  fs::copy_file(sft_data(), dir / "data.jsonl");
  const fs::path pipeline = completed_lora_run(dir, tiny_model(), dir / "data.jsonl");
  std::ofstream(dir / "data.jsonl", std::ios::app)
      << "{\"prompt\": \"one more\", \"completion\": \"line\"}\n";
  auto r = run_host({pipeline.string(), "--resume"}, dir.path());
  expect_error(r, {"stage.sft.data.path: \"" + (dir / "data.jsonl").string() +
                       "\" changed since the run started",
                   "the file changed (size"});
}

TEST(Resume, RefusesAChangedStageKey) {
  TempDir dir;
  const fs::path pipeline = completed_lora_run(dir, tiny_model(), sft_data());
  auto r =
      run_host({pipeline.string(), "--resume", "--set", "stage.sft.max_length=32"}, dir.path());
  expect_error(r, {"stage.sft.max_length: was 64, now 32"});
}

TEST(Resume, ContinuesWhenOnlyBookkeepingKeysChangeAndTheModelMoved) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  const fs::path pipeline = completed_lora_run(dir, model, sft_data());
  fs::rename(model, dir / "moved_model");
  auto r = run_host(
      {pipeline.string(), "--resume", "--set", "model.path=" + (dir / "moved_model").string(),
       "--set", "stage.sft.logging_steps=5", "--set", "stage.sft.save_total_limit=1"},
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("stage already completed"), std::string::npos) << r.output;
}

TEST(Resume, RefusesResultsWithoutAFingerprint) {
  TempDir dir;
  const fs::path pipeline = completed_lora_run(dir, tiny_model(), sft_data());
  fs::remove(dir / "run/sft/fingerprint.json");
  auto r = run_host({pipeline.string(), "--resume"}, dir.path());
  expect_error(r, {(dir / "run/sft").string(), "no fingerprint.json", "--overwrite"});
}

// ---- atomic writes + cleanup ----------------------------------------------------------------

TEST(AtomicWrites, LeftoversOfInterruptedWritesAreRemovedOnTheNextRun) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 2));
  run_ok({pipeline.string()}, dir);
  write_file(dir / "run/sft/checkpoint-3.tmp/trainable.pt", "half");
  write_file(dir / "run/sft/model.tmp.tmp-4242/config.json", "{");
  write_file(dir / "run/sft/stage_complete.json.tmp", "{\"res");
  write_file(dir / "run/pipeline.toml.tmp", "[run");
  write_file(dir / "run/sft/checkpoint-1.rlhf-deleting/rng.pt", "x");
  write_file(dir / "run/sft/notes.tmpl", "mine");

  auto r = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  for (const char* gone :
       {"sft/checkpoint-3.tmp", "sft/model.tmp.tmp-4242", "sft/stage_complete.json.tmp",
        "pipeline.toml.tmp", "sft/checkpoint-1.rlhf-deleting"}) {
    EXPECT_FALSE(fs::exists(dir / "run" / gone)) << gone;
    EXPECT_NE(r.output.find("removed " + (dir / "run" / gone).string()), std::string::npos)
        << gone << " not logged:\n"
        << r.output;
  }
  EXPECT_EQ(read_file(dir / "run/sft/notes.tmpl"), "mine");
  EXPECT_TRUE(fs::exists(dir / "run/sft/checkpoint-2/trainer_state.json"));
}

// A kill between moving the old result aside and moving the new one in (only possible where the
// file system lacks RENAME_EXCHANGE) leaves `model.rlhf-old`: the next run puts it back.
TEST(AtomicWrites, AnInterruptedSwapRestoresThePreviousResult) {
  TempDir dir;
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), checkpointed_stage(sft_data(), 2));
  run_ok({pipeline.string()}, dir);
  const std::string weights = read_file(dir / "run/sft/model/model.safetensors");
  fs::rename(dir / "run/sft/model", dir / "run/sft/model.rlhf-old");
  write_file(dir / "run/sft/model.tmp/config.json", "{}");

  auto r = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("restored " + (dir / "run/sft/model").string()), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("stage already completed"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "run/sft/model/model.safetensors"), weights);
  EXPECT_FALSE(fs::exists(dir / "run/sft/model.tmp"));
  EXPECT_FALSE(fs::exists(dir / "run/sft/model.rlhf-old"));
}

// ---- subcommand --out -----------------------------------------------------------------------

namespace {

std::vector<std::string> init_model_args(const fs::path& out, const std::string& seed = "0") {
  return {"init-model",
          "--out",
          out.string(),
          "--corpus",
          (kSource / "examples/data/polite_corpus.txt").string(),
          "--vocab-size",
          "400",
          "--hidden-size",
          "32",
          "--intermediate-size",
          "64",
          "--max-position-embeddings",
          "256",
          "--seed",
          seed};
}

std::vector<std::string> quantize_args(const fs::path& out) {
  return {"quantize", "--model", tiny_model().string(), "--quantizer",
          "int8",     "--out",   out.string(),          "--force"};
}

// The names directly in `dir`.
std::set<std::string> top_level(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.insert(entry.path().filename());
  return out;
}

// A folder of someone's work: files and a subfolder, no config.json.
std::set<std::string> make_work_folder(const fs::path& dir) {
  write_file(dir / "notes.txt", "mine\n");
  write_file(dir / "src/main.cpp", "int main() {}\n");
  return tree(dir);
}

}  // namespace

TEST(SubcommandOut, InitModelForceWithTrailingSlashRefusesAFolderThatIsNotAModel) {
  TempDir dir;
  const auto work = make_work_folder(dir / "work");
  auto args = init_model_args(dir / "work");
  args[2] += "/";
  args.push_back("--force");
  auto r = run_host(args, dir.path(), 120);
  expect_error(r,
               {"init-model", "--force refuses to replace", (dir / "work").string(), "not a file"});
  EXPECT_EQ(tree(dir / "work"), work);
  EXPECT_EQ(top_level(dir.path()), std::set<std::string>{"work"}) << "a temporary sibling is left";
}

TEST(SubcommandOut, InitModelForceWithTrailingSlashReplacesAPreviousModel) {
  TempDir dir;
  run_ok(init_model_args(dir / "m"), dir);
  const std::string before = read_file(dir / "m/model.safetensors");
  const auto files = tree(dir / "m");
  auto args = init_model_args(dir / "m", "7");
  args[2] += "/";
  args.push_back("--force");
  run_ok(args, dir);
  EXPECT_EQ(tree(dir / "m"), files);
  EXPECT_NE(read_file(dir / "m/model.safetensors"), before) << "not replaced";
  EXPECT_EQ(top_level(dir.path()), std::set<std::string>{"m"}) << "a temporary sibling is left";
}

TEST(SubcommandOut, QuantizeForceWithTrailingSlashRefusesAFolderThatIsNotAModel) {
  TempDir dir;
  const auto work = make_work_folder(dir / "work");
  auto args = quantize_args(dir / "work");
  args[6] += "/";
  auto r = run_host(args, dir.path(), 120);
  expect_error(r, {"quantize", "--force refuses to replace", (dir / "work").string()});
  EXPECT_EQ(tree(dir / "work"), work);
  write_file(dir / "files_only/readme.txt", "no config.json here\n");
  args = quantize_args(dir / "files_only");
  args[6] += "/";
  expect_error(run_host(args, dir.path(), 120), {"files_only", "has no config.json"});
  EXPECT_TRUE(fs::exists(dir / "files_only/readme.txt"));
}

TEST(SubcommandOut, QuantizeForceWithTrailingSlashReplacesAPreviousOutput) {
  TempDir dir;
  run_ok(quantize_args(dir / "q"), dir);
  const auto first = tree(dir / "q");
  ASSERT_TRUE(first.count("config.json")) << "no model written";
  auto args = quantize_args(dir / "q");
  args[6] += "/";
  run_ok(args, dir);
  EXPECT_EQ(tree(dir / "q"), first);
  EXPECT_EQ(top_level(dir.path()), std::set<std::string>{"q"}) << "a temporary sibling is left";
}

TEST(SubcommandOut, LeftoversOfAnInterruptedWriteAreRemoved) {
  TempDir dir;
  // The temporary folder of an init-model that died (its pid no longer runs).
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string leftover = "m.tmp-" + std::to_string(dead);
  write_file(dir / leftover / "tokenizer.model", "half");
  write_file(dir / "m.tmp/keep.txt", "someone's folder, not a pid-named leftover");
  auto r = run_host(init_model_args(dir / "m"), dir.path(), 120);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_FALSE(fs::exists(dir / leftover));
  EXPECT_NE(r.output.find("removed " + (dir / leftover).string()), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "m.tmp/keep.txt"));
  EXPECT_TRUE(fs::exists(dir / "m/config.json"));
}
