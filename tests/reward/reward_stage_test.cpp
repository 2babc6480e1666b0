// The reward stage in-process on a tiny model with the test adapter: the step-0 loss and
// accuracy it logs against scores computed here row by row (each sequence unpadded, its last
// hidden state times the head, in double), and what trains.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "jsonl/jsonl_source.hpp"
#include "reward/reward_algorithm.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/toolkit/sequence_classifier.hpp"
#include "rlhf/trainer.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

using namespace rlhf;
using namespace rlhf::test;

namespace {

// Eight pairs; every other one has a margin.
fs::path margin_file() {
  fs::path p = rlhf::test::process_temp_path("reward") / "prefs.jsonl";
  fs::create_directories(p.parent_path());
  std::ofstream out(p);
  for (int a = 1; a <= 8; ++a) {
    out << "{\"prompt\": \"What is " << a << " + 2?\", \"chosen\": \"" << a + 2
        << ", gladly.\", \"rejected\": \"" << a + 3 << " is the answer\"";
    if (a % 2) out << ", \"margin\": " << 0.25 * a;
    out << "}\n";
  }
  return p;
}

// One unpadded row's score: hidden state at its last token · head, in double.
double row_score(CausalLM& model, const torch::Tensor& head, const PromptCompletionIds& row) {
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> ids = row.prompt;
  ids.insert(ids.end(), row.completion.begin(), row.completion.end());
  auto input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  auto hidden = model.hidden_states(input, torch::ones_like(input));
  auto last = hidden[0][static_cast<std::int64_t>(ids.size()) - 1].to(torch::kDouble);
  return (last * head[0].to(torch::kDouble)).sum().item<double>();
}

struct RewardRun {
  std::shared_ptr<Tokenizer> tok = tiny_tokenizer();
  std::shared_ptr<CausalLM> model = tiny_model(tok->vocab_size());
  TestAdapter adapter;
  std::unique_ptr<jsonl::JsonlSource> data;
  fs::path dir;
  std::vector<nlohmann::json> lines;

  void go(const std::string& name, const std::string& toml, bool with_adapter) {
    dir = rlhf::test::process_temp_path("reward") / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    torch::manual_seed(1);
    if (with_adapter) adapter.attach(*model);
    Config data_config = Config::parse("path = \"" + margin_file().string() + "\"\n", "d.toml");
    data = std::make_unique<jsonl::JsonlSource>(data_config);
    data->load(11);
    {
      MetricsSink sink(dir);
      StageContext ctx;
      ctx.stage_name = name;
      ctx.seed = 11;
      ctx.stage_dir = dir / name;
      ctx.metrics = &sink;
      ctx.data = data.get();
      auto m = model;
      auto t = tok;
      ctx.model = [m] { return m; };
      ctx.tokenizer = [t] { return t; };
      ctx.chat_template = "zephyr";
      ctx.adapter = with_adapter ? &adapter : nullptr;
      Config config = Config::parse(toml, "stage.toml");
      reward::RewardAlgorithm algorithm(config);
      EXPECT_TRUE(config.unknown_keys().empty());
      algorithm.run(ctx);
    }
    std::ifstream in(dir / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  }
};

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

}  // namespace

TEST(RewardStage, Step0LossEqualsRowByRowScores) {
  RewardRun r;
  r.go("step0",
       "max_steps = 1\nper_device_train_batch_size = 4\nlogging_steps = 1\nlearning_rate = 0.0\n"
       "center_rewards_coefficient = 0.3\n",
       /*with_adapter=*/true);
  ASSERT_FALSE(r.lines.empty());
  const torch::Tensor head = score_head(*r.model);
  ASSERT_TRUE(head.defined());
  ASSERT_EQ(head.sizes(), (std::vector<std::int64_t>{1, 32}));
  // transformers' init: normal(0, 0.02) — not zeros, and of that scale.
  const double std = head.std().item<double>();
  EXPECT_GT(std, 0.005);
  EXPECT_LT(std, 0.05);

  const auto order = epoch_permutation(r.data->size(), 11, 0);
  const auto zephyr = ChatTemplate::get("zephyr");
  double bt = 0, centre = 0, correct = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    Example e = r.data->at(order[k]);
    const double rw = row_score(*r.model, head, zephyr.encode(*r.tok, e.prompt, e.chosen));
    const double rl = row_score(*r.model, head, zephyr.encode(*r.tok, e.prompt, e.rejected));
    bt += softplus(-(rw - rl - e.margin.value_or(0.0)));
    centre += (rw + rl) * (rw + rl);
    correct += rw > rl ? 1 : 0;
  }
  const auto& m = r.lines[0];
  EXPECT_NEAR(m["loss"].get<double>(), bt / 4 + 0.3 * centre / 4, 1e-5);
  EXPECT_NEAR(m["accuracy"].get<double>(), correct / 4, 1e-12);
}

TEST(RewardStage, FreezesTheBaseWithAnAdapterAndSavesTheTrainedHead) {
  RewardRun r;
  r.go("train",
       "max_steps = 2\nper_device_train_batch_size = 4\nlogging_steps = 1\n"
       "learning_rate = 0.01\nmax_length = 64\n",
       /*with_adapter=*/true);
  ASSERT_EQ(r.lines.size(), 2u);
  // The base weights are frozen by the adapter; every full-model parameter except the head
  // stays as tiny_model(seed 0) drew it.
  auto fresh = tiny_model(r.tok->vocab_size());
  auto params = r.model->named_parameters(true);
  for (const auto& item : fresh->named_parameters(true))
    EXPECT_TRUE(torch::equal(item.value(), params[item.key()])) << item.key();
  // The result holds the head as trained, in both folders.
  const torch::Tensor head = score_head(*r.model);
  SafetensorsCheckpoint model_dir(r.dir / "train" / "model");
  EXPECT_TRUE(torch::equal(model_dir.load("score.weight"), head.detach()));
  EXPECT_FALSE(model_dir.contains("lm_head.weight"));
  SafetensorsFile adapter(r.dir / "train" / "adapter" / "adapter_model.safetensors");
  EXPECT_TRUE(torch::equal(adapter.load("base_model.model.score.weight"), head.detach()));
  EXPECT_TRUE(fs::exists(r.dir / "train" / "stage_complete.json"));
}

TEST(RewardStage, EvalOnlyWithoutAHeadIsAClearError) {
  RewardRun r;
  try {
    r.go("nohead", "eval_only = true\n", /*with_adapter=*/false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eval_only needs a trained score head"), std::string::npos)
        << e.what();
  }
}
