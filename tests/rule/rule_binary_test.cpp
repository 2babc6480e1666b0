// The `rule` reward model through rlhf-host as a process. No algorithm scores completions yet
// (PPO is being written), so what a user reaches today is the construction of the model: a bad
// rule is one error line naming its key, from `--check` and from the run alike (exit 1), and a
// good one passes --check; a field the stage's data lacks fails the run before training.
#include "../reliability/check_util.hpp"

using namespace rlhf::reliability;

namespace {

// An SFT stage on the shipped data with `reward_model` = the given inline table.
std::string stage_with_reward_model(const std::string& table) {
  return stage_of("sft", path_key(sft_data()), "reward_model = " + table + "\n");
}

}  // namespace

TEST(RuleRewardModelBinary, InvalidRegexFailsCheckAndRunWithOneLineNamingTheKey) {
  TempDir dir;
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      stage_with_reward_model("{ plugin = \"rule\", rules = [{ kind = \"exact\", field = "
                              "\"answer\" }, { kind = \"regex\", pattern = 'is (\\w+\\.', field = "
                              "\"answer\" }] }"));
  const auto run =
      expect_check_and_run_fail_alike(dir.path(), pipeline,
                                      {"pipeline.toml:", "'stage.s.reward_model.rules[1].pattern'",
                                       "invalid regular expression (ECMAScript syntax)"});
  EXPECT_FALSE(fs::exists(dir / "run/s/model")) << run.describe();
}

TEST(RuleRewardModelBinary, UnknownRuleKeyFailsWithItsPathAndASuggestion) {
  TempDir dir;
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      stage_with_reward_model(
          "{ plugin = \"rule\", rules = [{ kind = \"regex\", patern = 'x', pattern = 'y' }] }"));
  expect_check_and_run_fail_alike(
      dir.path(), pipeline,
      {"'stage.s.reward_model.rules[0].patern'", "unknown key", "did you mean 'pattern'"});
}

TEST(RuleRewardModelBinary, UnknownRuleKindFailsNamingTheKnownOnes) {
  TempDir dir;
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      stage_with_reward_model("{ plugin = \"rule\", rules = [{ kind = \"regexp\" }] }"));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"'stage.s.reward_model.rules[0].kind'",
                                   "unknown rule kind \"regexp\"", "exact, regex, length"});
}

TEST(RuleRewardModelBinary, ValidRulesPassCheck) {
  TempDir dir;
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      stage_with_reward_model(
          "{ plugin = \"rule\", rules = [\n"
          "  { kind = \"regex\", pattern = 'is (\\w+)\\.', field = \"answer\" },\n"
          "  { kind = \"regex\", pattern = '^The \\w+ is \\w+\\.$', weight = 0.2 },\n"
          "  { kind = \"length\", target = 20, weight = -0.01 },\n"
          "] }"));
  const HostResult r = check_writes_nothing(dir.path(), pipeline);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(error_line(r), "") << r.describe();
}

TEST(RuleRewardModelBinary, MissingFieldInTheStageDataFailsTheRunBeforeTraining) {
  TempDir dir;
  // polite_sft.jsonl has prompt and completion only.
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      stage_with_reward_model(
          "{ plugin = \"rule\", rules = [{ kind = \"exact\", field = \"answer\" }] }"));
  const HostResult r = run_host({pipeline.string()}, dir.path(), 300);
  expect_error(r, {sft_data().string() + ":1: the example has no field 'answer'",
                   "'stage.s.reward_model.rules[0].field'"});
  EXPECT_FALSE(fs::exists(dir / "run/s/model")) << r.describe();
}
