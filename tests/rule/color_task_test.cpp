// The PPO example's color task (examples/quickstart/make_color_data.py) scored by the rule its
// pipeline uses: read through the jsonl source as a stage reads it, right answers score 1 and
// wrong ones 0, and the files have the shape the task needs (noisy SFT, unseen held-out
// phrasings).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "jsonl/jsonl_source.hpp"
#include "reward_rule/rule_reward_model.hpp"
#include "rlhf/config.hpp"

using rlhf::Config;
using rlhf::Example;

namespace {

const std::string kData = std::string(RLHF_SOURCE_DIR) + "/examples/data/";
const std::vector<std::string> kColors = {"red",    "blue",   "green", "yellow",
                                          "orange", "purple", "white", "black"};

std::vector<Example> read(const std::string& file) {
  rlhf::jsonl::JsonlSource source(Config::parse("path = \"" + kData + file + "\"", "p.toml"));
  source.load(1);
  std::vector<Example> out;
  for (std::size_t i = 0; i < source.size(); ++i) out.push_back(source.at(i));
  return out;
}

// The object a prompt asks about: the word after "the " that is not "color".
std::string object_of(const std::string& prompt) {
  static const std::regex object("the (?!color\\b)(\\w+)");
  std::smatch m;
  EXPECT_TRUE(std::regex_search(prompt, m, object)) << prompt;
  return m[1].str();
}

std::vector<float> scores(rlhf::rule::RuleRewardModel& model, const std::vector<Example>& ex,
                          const std::vector<std::string>& completions) {
  torch::Tensor t = model.score(ex, completions);
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

// The reward of the PPO example: 1 for exactly the right color in the answer sentence.
rlhf::rule::RuleRewardModel color_rule() {
  return rlhf::rule::RuleRewardModel(Config::parse(
      "rules = [{ kind = \"regex\", pattern = 'is (\\w+)\\.', field = \"answer\" }]", "p.toml"));
}

}  // namespace

TEST(ColorTask, RightColorScoresOneAndEveryWrongColorZero) {
  auto model = color_rule();
  for (const std::string file : {"color_prompts.jsonl", "color_heldout.jsonl"}) {
    const auto examples = read(file);
    ASSERT_GT(examples.size(), 0u) << file;
    std::vector<Example> batch;
    std::vector<std::string> completions;
    std::vector<float> expected;
    for (const auto& e : examples) {
      const std::string answer = e.fields.at("answer");
      const std::string obj = object_of(e.prompt.at(0).content);
      for (const auto& color : kColors) {
        batch.push_back(e);
        completions.push_back("The " + obj + " is " + color + ".");
        expected.push_back(color == answer ? 1.0f : 0.0f);
      }
    }
    EXPECT_EQ(scores(model, batch, completions), expected) << file;
  }
}

TEST(ColorTask, FilesCoverEveryObjectAndHoldOutPhrasings) {
  const auto sft = read("color_sft.jsonl");
  const auto prompts = read("color_prompts.jsonl");
  const auto heldout = read("color_heldout.jsonl");
  EXPECT_EQ(sft.size(), 600u);
  EXPECT_EQ(prompts.size(), 400u);

  // One color per object, the same in both prompt files; 24 objects, 8 colors.
  std::map<std::string, std::string> color_of;
  for (const auto* file : {&prompts, &heldout})
    for (const auto& e : *file) {
      const auto [it, fresh] =
          color_of.emplace(object_of(e.prompt[0].content), e.fields.at("answer"));
      EXPECT_EQ(it->second, e.fields.at("answer")) << e.source;
    }
  EXPECT_EQ(color_of.size(), 24u);
  std::set<std::string> colors;
  for (const auto& [obj, color] : color_of) colors.insert(color);
  EXPECT_EQ(colors.size(), 8u);

  // Training phrasings: every object with each of them in the SFT set; none held out.
  std::set<std::string> train_prompts, heldout_prompts;
  for (const auto& e : sft) train_prompts.insert(e.prompt[0].content);
  for (const auto& e : prompts) EXPECT_TRUE(train_prompts.count(e.prompt[0].content)) << e.source;
  for (const auto& e : heldout) {
    heldout_prompts.insert(e.prompt[0].content);
    EXPECT_FALSE(train_prompts.count(e.prompt[0].content)) << e.source;
  }
  EXPECT_EQ(train_prompts.size(), 24u * 3);
  EXPECT_EQ(heldout_prompts.size(), heldout.size());
  EXPECT_EQ(heldout.size(), 24u * 2);

  // The SFT completions are answer sentences; the rule finds the right color in about a quarter
  // of them (counted here by comparing the sentence itself).
  auto model = color_rule();
  std::vector<Example> with_answer;
  std::vector<std::string> completions;
  std::size_t right = 0;
  for (const auto& e : sft) {
    const std::string obj = object_of(e.prompt[0].content);
    Example x = e;
    x.fields["answer"] = color_of.at(obj);
    with_answer.push_back(x);
    completions.push_back(e.completion.at(0).content);
    right += completions.back() == "The " + obj + " is " + color_of.at(obj) + ".";
  }
  const auto r = scores(model, with_answer, completions);
  EXPECT_EQ(static_cast<std::size_t>(std::count(r.begin(), r.end(), 1.0f)), right);
  EXPECT_EQ(static_cast<std::size_t>(std::count(r.begin(), r.end(), 0.0f)), sft.size() - right);
  EXPECT_NEAR(static_cast<double>(right) / sft.size(), 0.25, 0.02);
}
