// Data files as users have them (docs/reliability.md, family "data files"): byte order marks,
// CRLF line endings, bytes that are not UTF-8, NUL bytes, huge lines, records of the wrong
// format, conversational role errors, missing or non-file paths. Each is either read as the
// user meant (BOM, CRLF, huge line) or refused with one line naming file:line and field, or the
// key, by `--check` and by the run alike.
#include <regex>

#include "check_util.hpp"

using namespace rlhf::reliability;

namespace {

const std::string kRecord1 = R"({"prompt": "What is 2 plus 2?", "completion": "Sure! It is 4."})";
const std::string kRecord2 = R"({"prompt": "What is 3 plus 1?", "completion": "Of course. 4."})";
const std::string kRecord3 =
    R"({"prompt": "What is 5 plus 0?", "completion": "Happy to help! 5."})";

std::string sft_stage_on(const fs::path& data, const std::string& data_extra = "") {
  return stage_of("sft", path_key(data) + data_extra);
}

// `--check --log-level debug` and the number of train examples it loaded (-1 if it failed).
long checked_train_examples(const TempDir& dir, const fs::path& pipeline) {
  auto r = check_writes_nothing(dir.path(), pipeline, {"--log-level", "debug"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  std::smatch m;
  static const std::regex kCount("has ([0-9]+) train / ([0-9]+) eval examples");
  if (!std::regex_search(r.output, m, kCount)) return -1;
  return std::stol(m[1]);
}

// The `completion_logps` of an eval_only SFT stage over `data`, in file order.
std::vector<double> eval_logps(const fs::path& data) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     "name = \"eval\"\nalgorithm = \"sft\"\neval_only = true\nmax_length = 64\n"
                     "data = { plugin = \"jsonl\", " +
                         path_key(data) + " }\n");
  auto r = run_host({pipeline.string()}, dir.path(), 300);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  std::vector<double> out;
  std::istringstream lines(read_file(dir / "run/eval/eval_predictions.jsonl"));
  for (std::string line; std::getline(lines, line);)
    out.push_back(nlohmann::json::parse(line)["completion_logps"].get<double>());
  return out;
}

bool printable_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x7f) return false;
  return true;
}

}  // namespace

TEST(DataFiles, ByteOrderMarkIsIgnored) {
  TempDir dir;
  write_file(dir / "bom.jsonl",
             "\xEF\xBB\xBF" + kRecord1 + "\n" + kRecord2 + "\n" + kRecord3 + "\n");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "bom.jsonl"));
  EXPECT_EQ(checked_train_examples(dir, pipeline), 3);
}

TEST(DataFiles, FileWithOnlyAByteOrderMarkIsEmpty) {
  TempDir dir;
  write_file(dir / "bom.jsonl", "\xEF\xBB\xBF\n");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "bom.jsonl"));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"bom.jsonl", "no records (the file is empty)"});
}

// CRLF files (Windows editors, exported spreadsheets) read exactly like LF files: the same
// records, the same tokens, so the same log-probs.
TEST(DataFiles, CrlfLineEndingsReadLikeLf) {
  TempDir dir;
  write_file(dir / "lf/data.jsonl", kRecord1 + "\n" + kRecord2 + "\n" + kRecord3 + "\n");
  write_file(dir / "crlf/data.jsonl",
             kRecord1 + "\r\n" + kRecord2 + "\r\n\r\n" + kRecord3 + "\r\n");
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "crlf/data.jsonl"));
  EXPECT_EQ(checked_train_examples(dir, pipeline), 3);
  const auto lf = eval_logps(dir / "lf/data.jsonl");
  const auto crlf = eval_logps(dir / "crlf/data.jsonl");
  ASSERT_EQ(lf.size(), 3u);
  EXPECT_EQ(lf, crlf);
}

TEST(DataFiles, BytesThatAreNotUtf8) {
  TempDir dir;
  write_file(dir / "latin1.jsonl",
             kRecord1 + "\n{\"prompt\": \"caf\xE9?\", \"completion\": \"Sure! \xE9t\xE9.\"}\n");
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "latin1.jsonl"));
  auto run =
      expect_check_and_run_fail_alike(dir.path(), pipeline, {"latin1.jsonl:2", "UTF-8", "column"});
  EXPECT_TRUE(printable_ascii(error_line(run))) << "raw bytes echoed: " << error_line(run);
}

TEST(DataFiles, NulByteInARecord) {
  TempDir dir;
  std::string line = "{\"prompt\": \"a";
  line += '\0';
  line += "b\", \"completion\": \"c\"}\n";
  write_file(dir / "nul.jsonl", kRecord1 + "\n" + line);
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "nul.jsonl"));
  auto run = expect_check_and_run_fail_alike(dir.path(), pipeline,
                                             {"nul.jsonl:2", "malformed JSON", "U+0000"});
  EXPECT_TRUE(printable_ascii(error_line(run))) << error_line(run);
}

// A 1 MiB prompt is a record like any other: read, then truncated to max_length when tokenised.
TEST(DataFiles, HugeLineIsReadAndTruncated) {
  TempDir dir;
  std::string prompt;
  while (prompt.size() < (1u << 20)) prompt += "What is 2 plus 2? ";
  write_file(dir / "huge.jsonl", kRecord1 + "\n{\"prompt\": \"" + prompt +
                                     "\", \"completion\": \"Sure! It is 4.\"}\n" + kRecord2 + "\n");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "huge.jsonl"));
  EXPECT_EQ(checked_train_examples(dir, pipeline), 3);
  auto run = run_host({pipeline.string()}, dir.path(), 300);
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(fs::exists(dir / "run/s/model/config.json"));
}

// A malformed huge line is reported in one short line, not echoed.
TEST(DataFiles, HugeMalformedLineIsNotEchoed) {
  TempDir dir;
  write_file(dir / "huge.jsonl",
             kRecord1 + "\n{\"prompt\": \"" + std::string(1u << 20, 'x') + "\n" + kRecord2 + "\n");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "huge.jsonl"));
  auto run =
      expect_check_and_run_fail_alike(dir.path(), pipeline, {"huge.jsonl:2", "malformed JSON"});
  EXPECT_LT(error_line(run).size(), 400u) << error_line(run).substr(0, 400);
}

TEST(DataFiles, SftRecordsForADpoStage) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(), stage_of("dpo", path_key(sft_data())));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"polite_sft.jsonl:1", "not a preference record"});
}

TEST(DataFiles, ConversationalUnknownRole) {
  TempDir dir;
  write_file(
      dir / "chat.jsonl",
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})"
      "\n"
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"}]})"
      "\n");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "chat.jsonl"));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"chat.jsonl:2", "field 'messages[1].role'",
                                   "\"bot\" is not one of system, user, assistant"});
}

TEST(DataFiles, ConversationalCompletionFromTheUser) {
  TempDir dir;
  write_file(
      dir / "chat.jsonl",
      R"({"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "user", "content": "hello"}]})"
      "\n");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "chat.jsonl"));
  expect_check_and_run_fail_alike(
      dir.path(), pipeline,
      {"chat.jsonl:1", "field 'completion[0].role'", "assistant messages only"});
}

TEST(DataFiles, EvalPathMissing) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     sft_stage_on(sft_data(), ", " + path_key(dir / "gone.jsonl", "eval_path")));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"pipeline.toml:", "'stage.s.data.eval_path'", "file not found"});
}

TEST(DataFiles, DataPathIsAFolder) {
  TempDir dir;
  fs::create_directories(dir / "data.jsonl");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage_on(dir / "data.jsonl"));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"pipeline.toml:", "'stage.s.data.path'", "is a folder"});
}

TEST(DataFiles, EvalPathIsAFolder) {
  TempDir dir;
  fs::create_directories(dir / "eval");
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     sft_stage_on(sft_data(), ", " + path_key(dir / "eval", "eval_path")));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"pipeline.toml:", "'stage.s.data.eval_path'", "is a folder"});
}

// on_error = "skip" drops the same lines in --check as in the run, and says so.
TEST(DataFiles, SkippedLinesAreCountedByCheck) {
  TempDir dir;
  write_file(dir / "some_bad.jsonl", kRecord1 + "\n{oops\n" + kRecord2 + "\n" + kRecord3 + "\n");
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(), sft_stage_on(dir / "some_bad.jsonl", ", on_error = \"skip\""));
  auto r = check_writes_nothing(dir.path(), pipeline, {"--log-level", "debug"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("skipped 1 malformed line(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has 3 train / 0 eval examples"), std::string::npos) << r.output;
}
