// Errors raised inside a plugin reach the user (docs/reliability.md, family "plugin errors"):
// each case once ended in a segfault (exit 139, nothing printed) because the plugin library was
// unloaded while its exception was still unwinding. Now: exit 1, one line naming the file:line,
// field or key, the same line in run.log, and no stage result on disk.
#include "reliability_util.hpp"

using namespace rlhf::reliability;

namespace {

// Runs a two-step SFT stage whose data table is `data` (TOML inline-table body, without braces)
// and checks the error contract. `extra` goes before the stage (e.g. an [adapter]).
HostResult run_with_data(const TempDir& dir, const std::string& data,
                         const std::string& extra = "") {
  const std::string stage =
      "name = \"sft\"\nalgorithm = \"sft\"\nmax_steps = 2\nper_device_train_batch_size = 2\n"
      "max_length = 64\ndata = { plugin = \"jsonl\", " +
      data + " }";
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), stage, extra);
  return run_host({pipeline.string()}, dir.path(), 120);
}

// The error line is in run.log too, and no stage result was saved.
void expect_logged_and_nothing_saved(const TempDir& dir, const std::string& needle) {
  const std::string log = read_file(dir / "run/run.log");
  EXPECT_NE(log.find(needle), std::string::npos) << "run.log lacks '" << needle << "':\n" << log;
  EXPECT_FALSE(fs::exists(dir / "run/sft/model")) << "a result was saved";
  EXPECT_FALSE(fs::exists(dir / "run/sft/adapter")) << "a result was saved";
  EXPECT_FALSE(fs::exists(dir / "run/sft/stage_complete.json"));
}

std::string path_key(const fs::path& p) { return "path = \"" + p.string() + "\""; }

}  // namespace

TEST(PluginErrors, TruncatedJsonLineNamesFileAndLine) {
  TempDir dir;
  write_file(dir / "bad.jsonl",
             "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"x\", \"completion\": ");
  auto r = run_with_data(dir, path_key(dir / "bad.jsonl"));
  expect_error(r, {"bad.jsonl:2", "malformed JSON"});
  expect_logged_and_nothing_saved(dir, "bad.jsonl:2");
}

TEST(PluginErrors, MissingFieldNamesTheField) {
  TempDir dir;
  write_file(dir / "bad.jsonl",
             "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"}\n");
  auto r = run_with_data(dir, path_key(dir / "bad.jsonl"));
  expect_error(r, {"bad.jsonl:2"});
  expect_logged_and_nothing_saved(dir, "bad.jsonl:2");
}

TEST(PluginErrors, WronglyTypedFieldNamesTheField) {
  TempDir dir;
  write_file(dir / "bad.jsonl", "{\"prompt\": \"a\", \"completion\": 7}\n");
  auto r = run_with_data(dir, path_key(dir / "bad.jsonl"));
  expect_error(r, {"bad.jsonl:1", "completion"});
  expect_logged_and_nothing_saved(dir, "bad.jsonl:1");
}

TEST(PluginErrors, EmptyDataFile) {
  TempDir dir;
  write_file(dir / "empty.jsonl", "");
  auto r = run_with_data(dir, path_key(dir / "empty.jsonl"));
  expect_error(r, {"empty.jsonl", "no records"});
  expect_logged_and_nothing_saved(dir, "no records");
}

TEST(PluginErrors, DirectoryAsDataPath) {
  TempDir dir;
  fs::create_directories(dir / "data_dir");
  auto r = run_with_data(dir, path_key(dir / "data_dir"));
  expect_error(r, {"data_dir", "path"});
}

TEST(PluginErrors, EvalSplitLeavingNoTrainingData) {
  TempDir dir;
  write_file(dir / "one.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
  auto r = run_with_data(dir, path_key(dir / "one.jsonl") + ", eval_fraction = 0.5");
  expect_error(r, {"one.jsonl", "eval_fraction"});
  expect_logged_and_nothing_saved(dir, "eval_fraction");
}

TEST(PluginErrors, SkipLeavingNothing) {
  TempDir dir;
  write_file(dir / "junk.jsonl", "not json\n{also not\n");
  auto r = run_with_data(dir, path_key(dir / "junk.jsonl") + ", on_error = \"skip\"");
  expect_error(r, {"junk.jsonl", "skipped"});
  expect_logged_and_nothing_saved(dir, "junk.jsonl");
}

TEST(PluginErrors, LoraTargetMatchingNoModule) {
  TempDir dir;
  auto r = run_with_data(dir, path_key(sft_data()),
                         "[adapter]\nplugin = \"lora\"\nr = 4\ntarget_modules = [\"qq_proj\"]\n");
  expect_error(r, {"qq_proj", "target_modules"});
  expect_logged_and_nothing_saved(dir, "qq_proj");
}
