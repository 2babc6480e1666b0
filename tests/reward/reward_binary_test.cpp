// The reward pipeline through the rlhf-host binary as a user runs it: a reward stage trains on
// the shipped quickstart pairs and saves a SequenceClassification folder (+ a PEFT SEQ_CLS
// adapter with LoRA); an eval_only stage after it writes eval_predictions.jsonl; the
// `classifier` reward model, given the saved folder, scores the same pairs with the same
// numbers. Bad input exits 1 with one error line.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "jsonl/jsonl_source.hpp"
#include "reliability_util.hpp"
#include "reward_classifier/classifier_reward_model.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/safetensors.hpp"

using namespace rlhf::reliability;

namespace {

// Twelve held-out pairs, every other one with a margin.
fs::path eval_pairs(const fs::path& dir) {
  std::ifstream in(kSource / "examples/data/polite_heldout.jsonl");
  std::ofstream out(dir / "eval.jsonl");
  std::string line;
  for (int i = 0; i < 12 && std::getline(in, line); ++i) {
    auto j = nlohmann::ordered_json::parse(line);
    if (i % 2 == 0) j["margin"] = 0.5 * i;
    out << j.dump() << "\n";
  }
  return dir / "eval.jsonl";
}

std::string reward_stages(const fs::path& eval) {
  return "name = \"rm\"\nalgorithm = \"reward\"\nmax_steps = 4\nper_device_train_batch_size = 4\n"
         "learning_rate = 0.003\nlogging_steps = 1\nmax_length = 64\n"
         "data = { plugin = \"jsonl\", path = \"" +
         pref_data().string() +
         "\" }\n"
         "[[stage]]\nname = \"eval\"\nalgorithm = \"reward\"\neval_only = true\n"
         "per_device_eval_batch_size = 5\n"  // untruncated, as the classifier's defaults
         "data = { plugin = \"jsonl\", path = \"" +
         eval.string() + "\" }\n";
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_file(p)); }

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Scores `pairs`' chosen and rejected completions through the classifier plugin in-process.
std::pair<torch::Tensor, torch::Tensor> classifier_scores(const fs::path& folder,
                                                          const fs::path& pairs) {
  rlhf::Config config = rlhf::Config::parse("path = \"" + folder.string() + "\"\nbatch_size = 5\n",
                                            "reward_model.toml");
  rlhf::reward_classifier::ClassifierRewardModel rm(config);
  EXPECT_TRUE(config.unknown_keys().empty());
  rlhf::StageContext ctx;
  ctx.stage_name = "ppo";
  ctx.chat_template = "none";  // the folder's own template (zephyr) must win
  rm.setup(ctx);
  rlhf::Config data_config = rlhf::Config::parse("path = \"" + pairs.string() + "\"\n", "d.toml");
  rlhf::jsonl::JsonlSource data(data_config);
  data.load(1);
  std::vector<rlhf::Example> prompts;
  std::vector<std::string> chosen, rejected;
  for (std::size_t i = 0; i < data.size(); ++i) {
    prompts.push_back(data.at(i));
    chosen.push_back(prompts.back().chosen.at(0).content);
    rejected.push_back(prompts.back().rejected.at(0).content);
  }
  return {rm.score(prompts, chosen), rm.score(prompts, rejected)};
}

void expect_classifier_matches_eval(const fs::path& run, const fs::path& eval) {
  const auto predictions = read_jsonl(run / "eval" / "eval_predictions.jsonl");
  ASSERT_EQ(predictions.size(), 12u);
  auto [chosen, rejected] = classifier_scores(run / "rm" / "model", eval);
  ASSERT_EQ(chosen.size(0), 12);
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    const auto& p = predictions[i];
    ASSERT_EQ(p["index"].get<std::size_t>(), i);
    EXPECT_NEAR(chosen[i].item<double>(), p["chosen_reward"].get<double>(), 1e-5) << i;
    EXPECT_NEAR(rejected[i].item<double>(), p["rejected_reward"].get<double>(), 1e-5) << i;
    if (i % 2 == 0)
      EXPECT_DOUBLE_EQ(p["margin"].get<double>(), 0.5 * i) << p.dump();
    else
      EXPECT_DOUBLE_EQ(p["margin"].get<double>(), 0.0) << p.dump();  // absent = 0
  }
}

}  // namespace

TEST(RewardBinary, FullFineTuneSavesASequenceClassifierTheClassifierScoresAlike) {
  TempDir dir;
  const auto eval = eval_pairs(dir.path());
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), reward_stages(eval));
  auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const fs::path run = dir / "run";

  // metrics.jsonl: TRL's names.
  const auto metrics = read_jsonl(run / "metrics.jsonl");
  ASSERT_FALSE(metrics.empty());
  EXPECT_TRUE(metrics[0].contains("loss")) << metrics[0].dump();
  EXPECT_TRUE(metrics[0].contains("accuracy")) << metrics[0].dump();

  const fs::path model = run / "rm" / "model";
  const auto config = read_json(model / "config.json");
  EXPECT_EQ(config["architectures"], nlohmann::json::array({"LlamaForSequenceClassification"}));
  EXPECT_EQ(config["num_labels"], 1);
  EXPECT_EQ(config["id2label"]["0"], "LABEL_0");
  rlhf::SafetensorsCheckpoint weights(model);
  EXPECT_EQ(weights.entry("score.weight").shape, (std::vector<std::int64_t>{1, 32}));
  EXPECT_FALSE(weights.contains("lm_head.weight"));
  EXPECT_TRUE(weights.contains("model.layers.1.mlp.down_proj.weight"));
  for (const char* f : {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(model / f)) << f;
  EXPECT_FALSE(fs::exists(run / "rm" / "adapter"));
  EXPECT_EQ(read_json(run / "rm" / "stage_complete.json")["result"], "model");

  const auto lines = read_jsonl(run / "eval" / "eval_predictions.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  for (const char* key : {"index", "source", "chosen_reward", "rejected_reward", "margin"})
    EXPECT_TRUE(lines[0].contains(key)) << key << " in " << lines[0].dump();
  expect_classifier_matches_eval(run, eval);

  // --resume of the finished pipeline loads the saved result instead of training again.
  auto again = run_host({pipeline.string(), "--resume"}, dir.path(), 300);
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_NE(again.output.find("stage already completed"), std::string::npos) << again.output;
  const auto lines_again = read_jsonl(run / "eval" / "eval_predictions.jsonl");
  ASSERT_EQ(lines_again.size(), 12u);
  for (std::size_t i = 0; i < 12; ++i)
    EXPECT_NEAR(lines_again[i]["chosen_reward"].get<double>(),
                lines[i]["chosen_reward"].get<double>(), 1e-6);
}

TEST(RewardBinary, LoraSavesASeqClsAdapterAndAMergedClassifier) {
  TempDir dir;
  const auto eval = eval_pairs(dir.path());
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), reward_stages(eval),
                                       "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\n"
                                       "target_modules = [\"q_proj\", \"v_proj\"]\n");
  auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const fs::path run = dir / "run";
  const fs::path adapter = run / "rm" / "adapter";
  const auto config = read_json(adapter / "adapter_config.json");
  EXPECT_EQ(config["task_type"], "SEQ_CLS");
  EXPECT_EQ(config["modules_to_save"], nlohmann::json::array({"score"}));
  EXPECT_EQ(config["peft_type"], "LORA");
  rlhf::SafetensorsFile weights(adapter / "adapter_model.safetensors");
  EXPECT_EQ(weights.entry("base_model.model.score.weight").shape,
            (std::vector<std::int64_t>{1, 32}));
  EXPECT_TRUE(weights.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
  // The merged folder scores as the live policy (base + LoRA + head) did in the eval stage.
  expect_classifier_matches_eval(run, eval);

  // --resume reads the SEQ_CLS adapter back (LoRA tensors and head, by PEFT name): the eval
  // stage then scores as before.
  const auto before = read_jsonl(run / "eval" / "eval_predictions.jsonl");
  auto again = run_host({pipeline.string(), "--resume"}, dir.path(), 300);
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_NE(again.output.find("stage already completed"), std::string::npos) << again.output;
  const auto after = read_jsonl(run / "eval" / "eval_predictions.jsonl");
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i)
    EXPECT_NEAR(after[i]["rejected_reward"].get<double>(),
                before[i]["rejected_reward"].get<double>(), 1e-6);
}

TEST(RewardBinary, ShippedExampleLearnsThePoliteTask) {
  // examples/reward.toml as shipped, on the test's tiny model and with fewer steps (10 instead
  // of 20: seconds on a busy 2-core machine): the held-out pairs' rewards rank the polite reply
  // first (the issue asks for pairwise accuracy >= 0.9).
  TempDir dir;
  auto r = run_host(
      {(kSource / "examples/reward.toml").string(), "--set", "model.path=" + tiny_model().string(),
       "--set", "run.output_dir=" + (dir / "run").string(), "--set", "stage.rm.max_steps=10"},
      kSource, 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto rows = read_jsonl(dir / "run" / "heldout" / "eval_predictions.jsonl");
  ASSERT_EQ(rows.size(), 120u);
  double correct = 0;
  for (const auto& row : rows)
    correct += row["chosen_reward"].get<double>() > row["rejected_reward"].get<double>() ? 1 : 0;
  EXPECT_GE(correct / rows.size(), 0.9);
  // The logged eval_accuracy is the same share.
  double logged = -1;
  for (const auto& m : read_jsonl(dir / "run" / "metrics.jsonl"))
    if (m.contains("eval_accuracy") && m.value("stage", "") == "heldout")
      logged = m["eval_accuracy"].get<double>();
  EXPECT_NEAR(logged, correct / rows.size(), 1e-9);
}

TEST(RewardBinary, CheckAcceptsTheRewardPipeline) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(), reward_stages(eval_pairs(dir.path())));
  auto r = run_host({"--check", pipeline.string()}, dir.path(), 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_FALSE(fs::exists(dir / "run" / "rm" / "model"));
}

TEST(RewardBinary, PairWithoutChosenIsOneErrorLine) {
  TempDir dir;
  write_file(dir / "bad.jsonl",
             "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n"
             "{\"prompt\": \"a\", \"rejected\": \"c\"}\n");
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      "name = \"rm\"\nalgorithm = \"reward\"\nmax_steps = 1\ndata = { plugin = \"jsonl\", path = "
      "\"" +
          (dir / "bad.jsonl").string() + "\" }\n");
  expect_error(run_host({pipeline.string()}, dir.path(), 120), {"bad.jsonl:2"});
}

TEST(RewardBinary, KeysOfOtherAlgorithmsAreRejected) {
  TempDir dir;
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      "name = \"rm\"\nalgorithm = \"reward\"\nbeta = 0.1\ndata = { plugin = \"jsonl\", path = "
      "\"" +
          pref_data().string() + "\" }\n");
  expect_error(run_host({pipeline.string()}, dir.path(), 120), {"beta"});
}

TEST(RewardBinary, ClassifierFolderWithoutScoreHeadFailsWhenTheStageStarts) {
  // The host sets up a stage's reward model before the algorithm runs; a reward stage is the
  // vehicle here until an algorithm that scores (ppo) exists: the classifier's setup() fails on
  // a causal LM folder, naming it.
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     "name = \"rm\"\nalgorithm = \"reward\"\nmax_steps = 1\n"
                     "reward_model = { plugin = \"classifier\", path = \"" +
                         tiny_model().string() + "\" }\ndata = { plugin = \"jsonl\", path = \"" +
                         pref_data().string() + "\" }\n");
  expect_error(run_host({pipeline.string()}, dir.path(), 120),
               {tiny_model().string(), "score.weight"});
  EXPECT_FALSE(fs::exists(dir / "run" / "rm" / "model"));
  // --check constructs the classifier (keys only) and the reward stage refuses the table.
  expect_error(run_host({"--check", pipeline.string()}, dir.path(), 120), {"reward_model"});
}

TEST(ClassifierRewardModel, FolderWithoutScoreHeadFailsNamingIt) {
  // A causal LM folder (the tiny policy): no score.weight. The binary path needs an algorithm
  // that calls score() (ppo); setup() is where the plugin fails.
  rlhf::Config config =
      rlhf::Config::parse("path = \"" + tiny_model().string() + "\"\n", "reward_model.toml");
  rlhf::reward_classifier::ClassifierRewardModel rm(config);  // keys only: nothing loads
  rlhf::StageContext ctx;
  try {
    rm.setup(ctx);
    FAIL() << "expected an error";
  } catch (const rlhf::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(tiny_model().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("score.weight"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ClassifierRewardModel, KeysAreValidatedAtConstruction) {
  auto bad = [](const std::string& toml) {
    rlhf::Config config = rlhf::Config::parse(toml, "reward_model.toml");
    EXPECT_THROW(rlhf::reward_classifier::ClassifierRewardModel{config}, rlhf::Error) << toml;
  };
  bad("batch_size = 2\n");  // no path
  bad("path = \"x\"\nbatch_size = 0\n");
  bad("path = \"x\"\ndtype = \"float64\"\n");
  bad("path = \"x\"\nchat_template = \"nope\"\n");
  // A missing folder is setup()'s business, not the constructor's (--check constructs plugins).
  rlhf::Config ok = rlhf::Config::parse("path = \"/nonexistent/rm\"\n", "reward_model.toml");
  EXPECT_NO_THROW(rlhf::reward_classifier::ClassifierRewardModel{ok});
}
