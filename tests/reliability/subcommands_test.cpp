// Bad input to the subcommands and the command line itself (docs/reliability.md, families
// "subcommands" and "command line"): exit 1 (2 for a malformed command line) with one line
// naming the file, line, option or key; no output file left behind.
#include "reliability_util.hpp"

using namespace rlhf::reliability;

namespace {

HostResult logprobs(const TempDir& dir, const std::string& data_text,
                    std::vector<std::string> extra = {}) {
  write_file(dir / "prefs.jsonl", data_text);
  std::vector<std::string> args{"logprobs",
                                "--model",
                                tiny_model().string(),
                                "--data",
                                (dir / "prefs.jsonl").string(),
                                "--out",
                                (dir / "out.jsonl").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_host(args, dir.path(), 120);
}

const std::string kGoodPair = R"({"prompt": "hi", "chosen": "hello", "rejected": "go away"})";

}  // namespace

TEST(Subcommands, LogprobsMalformedLineNamesFileAndLine) {
  TempDir dir;
  auto r = logprobs(dir, kGoodPair + "\n{\"prompt\": \"hi\", \"chosen\"\n");
  expect_error(r, {"prefs.jsonl:2"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
  EXPECT_FALSE(fs::exists(dir / "out.jsonl.tmp"));
}

TEST(Subcommands, LogprobsMessageWithNonStringRoleNamesLineAndField) {
  TempDir dir;
  auto r = logprobs(dir, kGoodPair + "\n" +
                             R"({"prompt": [{"role": 1, "content": "hi"}], "chosen": "a", )"
                             R"("rejected": "b"})" +
                             "\n");
  expect_error(r, {"prefs.jsonl:2", "role"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(Subcommands, LogprobsPairWithoutRejectedNamesLine) {
  TempDir dir;
  auto r = logprobs(dir, kGoodPair + "\n" + R"({"prompt": "hi", "chosen": "hello"})" + "\n");
  expect_error(r, {"prefs.jsonl:2", "rejected"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(Subcommands, LogprobsMissingModelFolder) {
  TempDir dir;
  write_file(dir / "prefs.jsonl", kGoodPair + "\n");
  auto r = run_host({"logprobs", "--model", (dir / "nope").string(), "--data",
                     (dir / "prefs.jsonl").string(), "--out", (dir / "out.jsonl").string()},
                    dir.path(), 60);
  expect_error(r, {"nope"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(Subcommands, LogprobsOutputInMissingFolder) {
  TempDir dir;
  write_file(dir / "prefs.jsonl", kGoodPair + "\n");
  auto r = run_host({"logprobs", "--model", tiny_model().string(), "--data",
                     (dir / "prefs.jsonl").string(), "--out", (dir / "no/such/out.jsonl").string()},
                    dir.path(), 60);
  expect_error(r, {"no/such/out.jsonl"});
}

TEST(Subcommands, LogprobsEmptyDataFile) {
  TempDir dir;
  auto r = logprobs(dir, "\n\n");
  expect_error(r, {"prefs.jsonl", "no"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(Subcommands, LogprobsBadOptionValuesExitTwoOrOne) {
  TempDir dir;
  auto r = logprobs(dir, kGoodPair + "\n", {"--batch-size", "0"});
  expect_error(r, {"--batch-size"});
  auto r2 = logprobs(dir, kGoodPair + "\n", {"--batch-size", "many"});
  EXPECT_EQ(r2.exit_code, 2) << r2.describe();
  EXPECT_NE(r2.output.find("batch-size"), std::string::npos) << r2.describe();
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(Subcommands, InitModelMissingCorpus) {
  TempDir dir;
  auto r = run_host(
      {"init-model", "--out", (dir / "m").string(), "--corpus", (dir / "no_corpus.txt").string()},
      dir.path(), 60);
  expect_error(r, {"no_corpus.txt"});
  EXPECT_EQ(tree(dir.path()), std::set<std::string>{}) << "files were left behind";
}

TEST(Subcommands, InitModelHeadsNotDividingHidden) {
  TempDir dir;
  auto r = run_host({"init-model", "--out", (dir / "m").string(), "--corpus",
                     (kSource / "examples/data/polite_corpus.txt").string(), "--hidden-size", "36",
                     "--heads", "5"},
                    dir.path(), 60);
  expect_error(r, {"--hidden-size 36", "--heads 5"});
  EXPECT_FALSE(fs::exists(dir / "m"));
}

TEST(Subcommands, QuantizeUnknownQuantizerListsKnownOnes) {
  TempDir dir;
  auto r = run_host({"quantize", "--model", tiny_model().string(), "--quantizer", "nf5", "--out",
                     (dir / "q").string()},
                    dir.path(), 60);
  expect_error(r, {"nf5", "nf4"});
  EXPECT_FALSE(fs::exists(dir / "q"));
}

TEST(Subcommands, BenchQuantMissingData) {
  TempDir dir;
  auto r = run_host(
      {"bench-quant", "--model", tiny_model().string(), "--data", (dir / "none.jsonl").string()},
      dir.path(), 60);
  expect_error(r, {"none.jsonl"});
}

TEST(CommandLine, PipelineThatIsNotTomlNamesLineAndColumn) {
  TempDir dir;
  write_file(dir / "p.toml", "[run]\noutput_dir = \"x\"\nseed = = 3\n");
  auto r = run_host({(dir / "p.toml").string()}, dir.path(), 60);
  expect_error(r, {"p.toml:3"});
  EXPECT_FALSE(fs::exists(dir / "x"));
}

TEST(CommandLine, PipelineWithNulBytesAndBinaryGarbage) {
  TempDir dir;
  write_file(dir / "p.toml", std::string("[run]\n\0\xff\xfe garbage", 16));
  auto r = run_host({(dir / "p.toml").string()}, dir.path(), 60);
  expect_error(r, {"p.toml"});
}

TEST(CommandLine, PipelineThatIsADirectory) {
  TempDir dir;
  fs::create_directories(dir / "p.toml");
  auto r = run_host({(dir / "p.toml").string()}, dir.path(), 60);
  expect_error(r, {"p.toml"});
}

TEST(CommandLine, SetWithAWrongTypeNamesTheKey) {
  TempDir dir;
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage(sft_data().string()));
  auto r = run_host({pipeline.string(), "--set", "run.seed=abc"}, dir.path(), 60);
  expect_error(r, {"run.seed"});
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(CommandLine, SetOfAnUnknownStageListsTheStages) {
  TempDir dir;
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage(sft_data().string()));
  auto r = run_host({pipeline.string(), "--set", "stage.dpo.beta=0.2"}, dir.path(), 60);
  expect_error(r, {"dpo", "sft"});
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(CommandLine, SetOfAMisspelledStageKeySuggestsTheKnownOne) {
  TempDir dir;
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage(sft_data().string()));
  auto r = run_host({pipeline.string(), "--set", "stage.sft.learning_rat=0.1"}, dir.path(), 60);
  expect_error(r, {"learning_rat", "learning_rate"});
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(CommandLine, SetWithoutEqualsSign) {
  TempDir dir;
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage(sft_data().string()));
  auto r = run_host({pipeline.string(), "--set", "run.seed"}, dir.path(), 60);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << r.describe();
  EXPECT_NE(r.output.find("run.seed"), std::string::npos) << r.describe();
  EXPECT_FALSE(fs::exists(dir / "run"));
}
