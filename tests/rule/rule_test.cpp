// The `rule` reward model in process: each rule kind and the weighted sum against hand-computed
// rewards on hand-written examples, regex capture semantics, and its errors (missing field named
// with the example's source, invalid regex and unknown keys named with their key path).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "jsonl/jsonl_source.hpp"
#include "reward_rule/rule_reward_model.hpp"
#include "reward_rule/rule_text.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "temp_dir.hpp"

using rlhf::Config;
using rlhf::Example;
using rlhf::rule::RuleRewardModel;

namespace {

// A model over `rules` (the TOML array's body), its table at key path "rm" in "p.toml".
// Unknown keys fail the test: the tables read here are all meant to be valid.
struct Model {
  Config config;
  RuleRewardModel model;
  explicit Model(const std::string& rules)
      : config(Config(Config::parse("[rm]\nrules = [" + rules + "]\n", "p.toml").table("rm"))),
        model(config) {
    EXPECT_TRUE(config.unknown_keys().empty()) << config.unknown_keys().front().key_path;
  }
  std::vector<float> score(const std::vector<Example>& examples,
                           const std::vector<std::string>& completions) {
    torch::Tensor t = model.score(examples, completions);
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);
    EXPECT_EQ(t.dim(), 1);
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
};

Example example(std::map<std::string, std::string> fields, const std::string& source = "d:1") {
  Example e;
  e.prompt = {{"user", "What color is the zorb?"}};
  e.fields = std::move(fields);
  e.source = source;
  return e;
}

// The error a model over `rules` raises when constructed (with the unknown-key check the host
// makes after construction), or "(no error)".
std::string construction_error(const std::string& rules) {
  try {
    Config root = Config::parse("[rm]\nrules = [" + rules + "]\n", "p.toml");
    Config rm = root.table("rm");
    RuleRewardModel model(rm);
    rm.check_no_unknown_keys();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string score_error(Model& m, const std::vector<Example>& examples,
                        const std::vector<std::string>& completions) {
  try {
    m.model.score(examples, completions);
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(RuleText, NormalisationTrimsCollapsesAndLowersAsciiOnly) {
  using rlhf::rule::normalised;
  EXPECT_EQ(normalised("  a  B\t\nc \n", {}), "a  B\t\nc");
  EXPECT_EQ(normalised("  a  B\t\nc \n", {false, true}), "a B c");
  EXPECT_EQ(normalised(" Blue ÄB ", {true, false}), "blue Äb");  // Ä is not ASCII: kept
  EXPECT_EQ(normalised(" \t ", {true, true}), "");
  EXPECT_EQ(rlhf::rule::utf8_length("blau"), 4u);
  EXPECT_EQ(rlhf::rule::utf8_length("grün"), 4u);   // ü is two bytes, one character
  EXPECT_EQ(rlhf::rule::utf8_length("🙂!"), 2u);  // four bytes, one character
}

TEST(RuleReward, ExactMatchComparesTrimmedTextWithTheField) {
  Model m("{ kind = \"exact\", field = \"answer\" }");
  const auto e = example({{"answer", "blue"}});
  EXPECT_EQ(m.score({e, e, e, e, e}, {"blue", "  blue\n", "Blue", "blue.", "bl ue"}),
            (std::vector<float>{1, 1, 0, 0, 0}));
}

TEST(RuleReward, ExactMatchOptionsIgnoreCaseAndCollapseWhitespace) {
  Model m(
      "{ kind = \"exact\", field = \"answer\", ignore_case = true, collapse_whitespace = true }");
  const auto e = example({{"answer", "Light  Blue"}});
  EXPECT_EQ(m.score({e, e, e, e}, {"light blue", "LIGHT\n\tBLUE ", "lightblue", "light blue!"}),
            (std::vector<float>{1, 1, 0, 0}));
}

TEST(RuleReward, RegexWithoutFieldIsAFormatCheckAnywhereInTheCompletion) {
  Model m("{ kind = \"regex\", pattern = 'The \\w+ is \\w+\\.' }");
  const auto e = example({});  // no field needed
  EXPECT_EQ(m.score({e, e, e, e}, {"The zorb is red.", "Well. The zorb is red. Yes",
                                   "the zorb is red.", "The zorb is red"}),
            (std::vector<float>{1, 1, 0, 0}));
  Model anchored("{ kind = \"regex\", pattern = '^The \\w+ is \\w+\\.$', ignore_case = true }");
  EXPECT_EQ(anchored.score({e, e, e},
                           {"the zorb IS red.", "Well. The zorb is red.", "The zorb is red. Yes"}),
            (std::vector<float>{1, 0, 0}));
}

TEST(RuleReward, RegexComparesTheFirstMatchsFirstGroupWithTheField) {
  Model m("{ kind = \"regex\", pattern = 'is (\\w+)\\.', field = \"answer\" }");
  const auto e = example({{"answer", "blue"}});
  EXPECT_EQ(m.score({e, e, e, e, e}, {"The zorb is blue.", "The zorb is red. No, it is blue.",
                                      "It is blue!", "The zorb is Blue.", "This is blue. Or red."}),
            // first match "is red." (group "red"); no match; case differs; first match "blue"
            (std::vector<float>{1, 0, 0, 0, 1}));
}

TEST(RuleReward, RegexWithoutGroupComparesTheWholeMatch) {
  Model m("{ kind = \"regex\", pattern = '[0-9]+', field = \"answer\" }");
  const auto e = example({{"answer", "42"}});
  EXPECT_EQ(m.score({e, e, e, e}, {"It is 42.", "42 or 7", "7 or 42", "none"}),
            (std::vector<float>{1, 1, 0, 0}));
  // An optional group that took no part in the match compares as "".
  Model optional("{ kind = \"regex\", pattern = 'x(y)?', field = \"answer\" }");
  EXPECT_EQ(optional.score({example({{"answer", ""}}), example({{"answer", "y"}})}, {"x", "xy"}),
            (std::vector<float>{1, 1}));
}

TEST(RuleReward, RegexIgnoreCaseAppliesToPatternAndComparison) {
  Model m("{ kind = \"regex\", pattern = 'IS (\\w+)\\.', field = \"answer\", ignore_case = true }");
  const auto e = example({{"answer", "Blue"}});
  EXPECT_EQ(m.score({e, e}, {"The zorb is BLUE.", "The zorb is red."}), (std::vector<float>{1, 0}));
}

TEST(RuleReward, LengthCountsCharactersBeyondTarget) {
  Model over("{ kind = \"length\", target = 5, weight = -0.5 }");
  Model both("{ kind = \"length\", target = 5, weight = -0.5, two_sided = true }");
  const auto e = example({});
  // 3, 5, 9 characters; "grüne!!" is 7 characters in 8 bytes.
  const std::vector<std::string> texts = {"abc", "abcde", "abcdefghi", "grüne!!"};
  EXPECT_EQ(over.score({e, e, e, e}, texts), (std::vector<float>{0, 0, -2, -1}));
  EXPECT_EQ(both.score({e, e, e, e}, texts), (std::vector<float>{-1, 0, -2, -1}));
  Model from_zero("{ kind = \"length\", weight = 0.25 }");  // target 0: every character counts
  EXPECT_EQ(from_zero.score({e, e}, {"", "abcdefgh"}), (std::vector<float>{0, 2}));
}

TEST(RuleReward, RewardIsTheWeightedSumOfTheRules) {
  Model m(R"(
    { kind = "exact", field = "answer", weight = 2.0 },
    { kind = "regex", pattern = 'is (\w+)\.', field = "answer" },
    { kind = "regex", pattern = '^The \w+ is \w+\.$', weight = 0.2 },
    { kind = "length", target = 16, weight = -0.01 },
  )");
  const auto e = example({{"answer", "blue"}});
  // "The zorb is blue." (17 chars): exact 0, capture 1·1, format 0.2·1, length −0.01·1 = 1.19
  // "blue" (4 chars): exact 2·1, capture 0, format 0, length 0 = 2
  // "The zorb is red. Really, it is!" (31 chars): 0 + 0 + 0 − 0.01·15 = −0.15
  // "The zorb is red." (16 chars): format only = 0.2
  const auto r = m.score({e, e, e, e}, {"The zorb is blue.", "blue",
                                        "The zorb is red. Really, it is!", "The zorb is red."});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FLOAT_EQ(r[0], 1.19f);
  EXPECT_FLOAT_EQ(r[1], 2.0f);
  EXPECT_FLOAT_EQ(r[2], -0.15f);
  EXPECT_FLOAT_EQ(r[3], 0.2f);
  EXPECT_EQ(m.model.rules().size(), 4u);
}

TEST(RuleReward, EachPairIsScoredWithItsOwnExample) {
  Model m("{ kind = \"regex\", pattern = 'is (\\w+)\\.', field = \"answer\" }");
  EXPECT_EQ(m.score({example({{"answer", "red"}}), example({{"answer", "blue"}})},
                    {"The zorb is blue.", "The plim is blue."}),
            (std::vector<float>{0, 1}));
}

TEST(RuleReward, MissingFieldNamesTheExampleSourceAndTheRule) {
  Model m("{ kind = \"regex\", pattern = 'is (\\w+)\\.', field = \"answer\" }");
  const auto good = example({{"answer", "red"}}, "colors.jsonl:1");
  const auto bad = example({{"id", "7"}, {"color", "red"}}, "colors.jsonl:2");
  // The field is looked up even when the pattern does not match the completion.
  const std::string msg = score_error(m, {good, bad}, {"The zorb is red.", "no match"});
  EXPECT_NE(msg.find("colors.jsonl:2: the example has no field 'answer'"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("'rm.rules[0].field'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("its fields: color, id"), std::string::npos) << msg;

  Model exact("{ kind = \"exact\", field = \"answer\" }");
  Example no_source = example({});
  no_source.source.clear();
  const std::string msg2 = score_error(exact, {good, no_source}, {"red", "red"});
  EXPECT_NE(msg2.find("example 1: the example has no field 'answer'"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("its fields: none"), std::string::npos) << msg2;
}

TEST(RuleReward, MismatchedBatchIsAnError) {
  Model m("{ kind = \"length\", weight = -1.0 }");
  EXPECT_NE(score_error(m, {example({}), example({})}, {"a"}).find("2 examples but 1 completions"),
            std::string::npos);
  EXPECT_EQ(m.score({}, {}).size(), 0u);
}

TEST(RuleReward, OverflowingRewardIsAnErrorNotInfinity) {
  Model m("{ kind = \"length\", weight = 1e300 }");
  const std::string msg = score_error(m, {example({}, "big.jsonl:3")}, {"ab"});
  EXPECT_NE(msg.find("big.jsonl:3: the rule reward is not a finite float32"), std::string::npos)
      << msg;
}

// libstdc++'s std::regex recurses per character: on an 8 MiB stack this search crashes for a
// 60,000-character completion. The model scores on a thread with a larger stack.
TEST(RuleReward, LongCompletionDoesNotOverflowTheStack) {
  Model m("{ kind = \"regex\", pattern = '^.*is (\\w+)\\.$', field = \"answer\" }");
  const std::string long_text = std::string(60000, 'a') + " is blue.";
  EXPECT_EQ(m.score({example({{"answer", "blue"}})}, {long_text}), (std::vector<float>{1}));
  const std::string too_long(rlhf::rule::kMaxRegexInputBytes + 1, 'a');
  const std::string msg =
      score_error(m, {example({{"answer", "blue"}}, "long.jsonl:9")}, {too_long});
  EXPECT_NE(msg.find("long.jsonl:9: a completion of 65537 bytes is longer than the 65536 bytes a "
                     "regex rule searches ('rm.rules[0].pattern')"),
            std::string::npos)
      << msg;
}

TEST(RuleRewardConfig, InvalidRegexNamesThePatternKey) {
  const std::string msg = construction_error(
      "{ kind = \"exact\", field = \"a\" },\n{ kind = \"regex\", pattern = 'is (\\w+\\.' }");
  EXPECT_NE(msg.find("p.toml:3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'rm.rules[1].pattern': invalid regular expression (ECMAScript syntax): "),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;  // one line
}

TEST(RuleRewardConfig, BadRulesAreConfigErrorsNamingTheirKey) {
  EXPECT_NE(construction_error("{ kind = \"contains\" }")
                .find("'rm.rules[0].kind': unknown rule kind \"contains\" (known: exact, regex, "
                      "length)"),
            std::string::npos);
  EXPECT_NE(
      construction_error("{ field = \"a\" }").find("'rm.rules[0].kind': required key is missing"),
      std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"exact\" }").find("'rm.rules[0].field': required key"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"regex\", field = \"a\" }")
                .find("'rm.rules[0].pattern': required key"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"length\", target = 3 }")
                .find("'rm.rules[0].weight': required key"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"length\", target = -1, weight = -1.0 }")
                .find("'rm.rules[0].target': must be >= 0"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"exact\", field = \"\" }")
                .find("'rm.rules[0].field': must name"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"regex\", pattern = 'x', collapse_whitespace = true }")
                .find("'rm.rules[0].collapse_whitespace': applies to the comparison with `field`"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"exact\", field = \"a\", weight = nan }")
                .find("'rm.rules[0].weight': must be a finite number"),
            std::string::npos);
  EXPECT_NE(construction_error("").find("'rm.rules': needs at least one rule"), std::string::npos);
  // Without the key at all, the same message.
  try {
    Config root = Config::parse("[rm]\nplugin = \"rule\"\n", "p.toml");
    RuleRewardModel model(root.table("rm"));
    ADD_FAILURE() << "no error";
  } catch (const rlhf::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'rm.rules': needs at least one rule"), std::string::npos)
        << e.what();
  }
}

TEST(RuleRewardConfig, KeysOfAnotherKindOrTyposAreUnknownKeys) {
  // A pattern on an exact rule, a field on a length rule, a typo: reported with a suggestion.
  EXPECT_NE(construction_error("{ kind = \"exact\", field = \"a\", pattern = 'x' }")
                .find("'rm.rules[0].pattern'"),
            std::string::npos);
  EXPECT_NE(construction_error("{ kind = \"length\", weight = -1.0, field = \"a\" }")
                .find("'rm.rules[0].field'"),
            std::string::npos);
  const std::string typo = construction_error(
      "{ kind = \"exact\", field = \"a\" }, { kind = \"regex\", patern = 'x', pattern = 'y' }");
  EXPECT_NE(typo.find("unknown key"), std::string::npos) << typo;
  EXPECT_NE(typo.find("'rm.rules[1].patern'"), std::string::npos) << typo;
  EXPECT_NE(typo.find("pattern"), std::string::npos) << typo;
  // A rule that is not a table.
  EXPECT_NE(construction_error("\"exact\"").find("'rm.rules[0]': expected table, got string"),
            std::string::npos);
}

TEST(RuleRewardConfig, RulesWrittenAsArrayOfTablesUnderAStage) {
  // The long form docs/algorithms.md shows: [stage.reward_model] and [[stage.reward_model.rules]].
  Config root = Config::parse(R"(
[[stage]]
name = "ppo"
[stage.reward_model]
plugin = "rule"
[[stage.reward_model.rules]]
kind = "regex"
pattern = 'is (\w+)\.'
field = "answer"
[[stage.reward_model.rules]]
kind = "length"
target = 16
weight = -0.5
)",
                              "p.toml");
  Config stage = root.tables("stage").at(0);
  Config rm = stage.table("reward_model");
  rm.declare("plugin");
  RuleRewardModel model(rm);
  EXPECT_TRUE(rm.unknown_keys().empty());
  torch::Tensor r = model.score({example({{"answer", "blue"}})}, {"The zorb is blue."});
  EXPECT_FLOAT_EQ(r[0].item<float>(), 1.0f - 0.5f);  // 17 characters: one over the target
}

TEST(RuleReward, SetupChecksEveryExampleOfTheStageDataForTheFields) {
  const auto dir = rlhf::test::process_temp_path("rule-setup");
  std::filesystem::create_directories(dir);
  const auto path = dir / "prompts.jsonl";
  std::ofstream(path) << "{\"prompt\": \"a\", \"answer\": \"red\"}\n"
                         "{\"prompt\": \"b\", \"answer\": 4}\n"
                         "{\"prompt\": \"c\", \"id\": 3}\n";
  rlhf::jsonl::JsonlSource data(Config::parse("path = \"" + path.string() + "\"", "p.toml"));
  data.load(1);
  rlhf::StageContext ctx;
  ctx.data = &data;

  Model length_only("{ kind = \"length\", weight = -1.0 }");
  EXPECT_NO_THROW(length_only.model.setup(ctx));  // reads no field
  Model m("{ kind = \"exact\", field = \"answer\" }");
  try {
    m.model.setup(ctx);
    ADD_FAILURE() << "no error";
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() +
                                         ":3: the example has no field 'answer', which "
                                         "'rm.rules[0].field' compares with (its fields: id)"),
              std::string::npos)
        << e.what();
  }
  rlhf::StageContext no_data;
  EXPECT_NO_THROW(m.model.setup(no_data));
}
