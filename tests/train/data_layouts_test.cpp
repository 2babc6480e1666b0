// The data layouts people have, through the real rlhf-host binary: an UltraFeedback-binarized
// file passes --check and trains in a DPO and an ORPO stage, and scores exactly as the same pairs
// in the conversational layout; several datasets mix in one stage; a bad column mapping is
// refused by --check and the run alike (exit 1, one line naming the key or file:line).
#include "../reliability/check_util.hpp"

using namespace rlhf::reliability;
using nlohmann::json;

namespace {

json turn(const std::string& role, const std::string& content) {
  return {{"role", role}, {"content", content}};
}

// The first `n` pairs of the shipped preference data, as UltraFeedback-binarized has them
// (prompt_id, whole conversations, messages, scores) or in the conversational layout.
fs::path write_pairs(const fs::path& path, bool ultrafeedback, std::size_t n) {
  std::istringstream in(read_file(pref_data()));
  std::string out;
  for (std::string line; n > 0 && std::getline(in, line); --n) {
    const auto r = json::parse(line);
    const std::string p = r["prompt"], c = r["chosen"], j = r["rejected"];
    json row;
    if (ultrafeedback)
      row = {{"prompt", p},
             {"prompt_id", std::to_string(n)},
             {"chosen", {turn("user", p), turn("assistant", c)}},
             {"rejected", {turn("user", p), turn("assistant", j)}},
             {"messages", {turn("user", p), turn("assistant", c)}},
             {"score_chosen", 9.0},
             {"score_rejected", 2.5}};
    else
      row = {{"prompt", {turn("user", p)}},
             {"chosen", {turn("assistant", c)}},
             {"rejected", {turn("assistant", j)}}};
    out += row.dump() + "\n";
  }
  write_file(path, out);
  return path;
}

std::vector<json> read_jsonl(const fs::path& path) {
  std::vector<json> out;
  std::istringstream lines(read_file(path));
  for (std::string line; std::getline(lines, line);) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST(DataLayouts, UltraFeedbackTrainsInDpoAndOrpo) {
  TempDir dir;
  const auto uf = write_pairs(dir / "uf.jsonl", true, 24);
  const std::string data = path_key(uf) + ", eval_fraction = 0.25";
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     stage_of("dpo", data, "logging_steps = 1\n", "dpo") + "\n[[stage]]\n" +
                         stage_of("orpo", data, "logging_steps = 1\n", "orpo"));
  const auto check = check_writes_nothing(dir.path(), pipeline);
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  const auto run = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  // Every one of the 24 pairs was read: ceil(0.25 · 24) = 6 eval, 18 train, in both stages.
  EXPECT_NE(run.output.find("stage 'dpo': dpo with data 'jsonl' (18 train / 6 eval examples)"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("stage 'orpo': orpo with data 'jsonl' (18 train / 6 eval examples)"),
            std::string::npos)
      << run.output;
  int dpo_train = 0, orpo_train = 0;
  for (const auto& line : read_jsonl(dir / "run/metrics.jsonl")) {
    if (line["stage"] == "dpo" && line.contains("rewards/margins")) {
      ++dpo_train;
      EXPECT_TRUE(std::isfinite(line["loss"].get<double>())) << line;
    }
    if (line["stage"] == "orpo" && line.contains("log_odds_ratio")) {
      ++orpo_train;
      EXPECT_TRUE(std::isfinite(line["loss"].get<double>())) << line;
    }
  }
  EXPECT_EQ(dpo_train, 1);
  EXPECT_EQ(orpo_train, 1);
  EXPECT_TRUE(fs::exists(dir / "run/dpo/model/config.json"));
  EXPECT_TRUE(fs::exists(dir / "run/orpo/model/config.json"));
}

// The same pairs in both layouts are the same Examples: the same tokens, the same log-probs.
TEST(DataLayouts, UltraFeedbackScoresAsTheConversationalLayout) {
  TempDir dir;
  const auto uf = write_pairs(dir / "uf.jsonl", true, 8);
  const auto conv = write_pairs(dir / "conv.jsonl", false, 8);
  auto eval_stage = [](const std::string& name, const fs::path& data) {
    return "name = \"" + name +
           "\"\nalgorithm = \"dpo\"\neval_only = true\nmax_length = 64\n"
           "data = { plugin = \"jsonl\", " +
           path_key(data) + " }\n";
  };
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(), eval_stage("uf", uf) + "\n[[stage]]\n" + eval_stage("conv", conv));
  const auto run = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const auto a = read_jsonl(dir / "run/uf/eval_predictions.jsonl");
  const auto b = read_jsonl(dir / "run/conv/eval_predictions.jsonl");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["chosen_logps"], b[i]["chosen_logps"]) << i;
    EXPECT_EQ(a[i]["rejected_logps"], b[i]["rejected_logps"]) << i;
    EXPECT_EQ(a[i]["source"], uf.string() + ":" + std::to_string(i + 1));
  }
  EXPECT_NE(a[0]["chosen_logps"], a[0]["rejected_logps"]);  // the numbers say something
}

// [stage.data] with [[stage.data.datasets]]: fractions per file, eval split per file.
TEST(DataLayouts, DatasetsMixInOneStage) {
  TempDir dir;
  const auto uf = write_pairs(dir / "uf.jsonl", true, 24);
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      "name = \"dpo\"\nalgorithm = \"dpo\"\nmax_steps = 1\nper_device_train_batch_size = 2\n"
      "max_length = 64\n[stage.data]\nplugin = \"jsonl\"\neval_fraction = 0.25\n"
      "[[stage.data.datasets]]\n" +
          path_key(uf) + "\n[[stage.data.datasets]]\n" + path_key(pref_data()) +
          "\nfraction = 0.05\n");
  // uf: 24 rows → 6 eval, 18 train; polite_train: round(0.05 · 480) = 24 → 6 eval, 18 train.
  const auto check = check_writes_nothing(dir.path(), pipeline, {"--log-level", "debug"});
  ASSERT_EQ(check.exit_code, 0) << check.describe();
  EXPECT_NE(check.output.find("has 36 train / 12 eval examples"), std::string::npos)
      << check.output;
  EXPECT_NE(
      check.output.find(pref_data().string() +
                        ": 24 of 480 rows (fraction × sample_ratio = 0.05): 18 train, 6 eval"),
      std::string::npos)
      << check.output;
  const auto run = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_NE(run.output.find("(36 train / 12 eval examples)"), std::string::npos) << run.output;
}

TEST(DataLayouts, BadColumnMappingIsRefused) {
  TempDir dir;
  const auto uf = write_pairs(dir / "uf.jsonl", true, 4);
  auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     stage_of("dpo", path_key(uf) + ", columns = { promt = \"question\" }"));
  expect_check_and_run_fail_alike(
      dir.path(), pipeline,
      {"pipeline.toml:", "columns.promt'", "unknown role 'promt' (did you mean 'prompt'?)"});

  pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     stage_of("dpo", path_key(uf) + ", columns = { prompt = \"question\" }"));
  expect_check_and_run_fail_alike(
      dir.path(), pipeline,
      {uf.string() + ":1: field 'question': missing (columns.prompt = \"question\")"});
  EXPECT_FALSE(fs::exists(dir / "run/s/model"));
}
