// The algorithms through the real rlhf-host binary: a multi-stage pipeline (eval → sft → dpo →
// eval) on a tiny model from `rlhf-host init-model`, and --resume after a completed stage.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include "event_file.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

int run(const std::string& command) {
  return std::system(
      (command + " > " + (rlhf::test::process_temp_path("pipeline.log")).string() + " 2>&1")
          .c_str());
}

// What the last run() printed.
std::string run_log() {
  std::ifstream in(rlhf::test::process_temp_path("pipeline.log"));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A random tiny Llama (vocab 400, 2 layers, width `hidden`) from `rlhf-host init-model`, with a
// tokenizer trained on the quickstart corpus.
int init_tiny_model(const fs::path& out, int hidden) {
  return run(std::string(RLHF_HOST_BINARY) + " init-model --out " + out.string() + " --corpus " +
             RLHF_SOURCE_DIR + "/examples/data/polite_corpus.txt --vocab-size 400 --hidden-size " +
             std::to_string(hidden) + " --intermediate-size " + std::to_string(2 * hidden) +
             " --max-position-embeddings 256");
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST(Pipeline, SftThenDpoThroughTheHost) {
  const fs::path dir = rlhf::test::process_temp_path("pipeline");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string host = RLHF_HOST_BINARY;
  const std::string src = RLHF_SOURCE_DIR;
  ASSERT_EQ(init_tiny_model(dir / "model", 32), 0) << run_log();
  const std::string data = src + "/examples/data/polite_train.jsonl";
  std::ofstream(dir / "p.toml")
      << "[run]\noutput_dir = \"" << (dir / "run").string() << "\"\nseed = 3\n[model]\npath = \""
      << (dir / "model").string()
      << "\"\nchat_template = \"zephyr\"\n"
         "[[stage]]\nname = \"before\"\nalgorithm = \"dpo\"\n"
         "eval_only = true\ndata = { plugin = \"jsonl\", path = \""
      << data
      << "\", sample_ratio = 0.02 }\n"
         "[[stage]]\nname = \"sft\"\nalgorithm = \"sft\"\nmax_steps = 3\n"
         "logging_steps = 1\nper_device_train_batch_size = 2\n"
         "learning_rate = 1e-3\ndata = { plugin = \"jsonl\", path = \""
      << data
      << "\", sample_ratio = 0.05 }\n"
         "[[stage]]\nname = \"dpo\"\nalgorithm = \"dpo\"\nmax_steps = 4\n"
         "logging_steps = 2\nsave_steps = 2\nper_device_train_batch_size = 2\n"
         "learning_rate = 1e-3\ndata = { plugin = \"jsonl\", path = \""
      << data << "\", sample_ratio = 0.05, eval_fraction = 0.2 }\n";
  ASSERT_EQ(run(host + " " + (dir / "p.toml").string()), 0);
  auto lines = read_jsonl(dir / "run" / "metrics.jsonl");
  std::set<std::string> stages;
  int sft_lines = 0, dpo_train_lines = 0, dpo_eval_lines = 0;
  for (const auto& j : lines) {
    stages.insert(j["stage"].get<std::string>());
    if (j["stage"] == "sft") {
      ++sft_lines;
      EXPECT_TRUE(j.contains("mean_token_accuracy"));
    }
    if (j["stage"] == "dpo" && j.contains("rewards/margins")) ++dpo_train_lines;
    if (j["stage"] == "dpo" && j.contains("eval_rewards/accuracies")) ++dpo_eval_lines;
  }
  EXPECT_EQ(stages, (std::set<std::string>{"before", "sft", "dpo"}));
  EXPECT_EQ(sft_lines, 3);
  EXPECT_EQ(dpo_train_lines, 2);
  EXPECT_EQ(dpo_eval_lines, 1);
  EXPECT_EQ(read_jsonl(dir / "run" / "before" / "eval_predictions.jsonl").size(),
            10u);  // 2% of 480
  EXPECT_TRUE(fs::exists(dir / "run" / "sft" / "model" / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "run" / "dpo" / "model" / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "run" / "dpo" / "checkpoint-2" / "trainer_state.json"));
  EXPECT_TRUE(fs::exists(dir / "run" / "dpo" / "checkpoint-4" / "optimizer.pt"));
  // TensorBoard: one run per stage, with the tags transformers' Trainer gives TRL's metrics.
  std::map<std::string, std::set<std::string>> tags;
  std::map<std::string, std::vector<float>> dpo_values;
  for (const char* stage : {"before", "sft", "dpo"}) {
    const auto files = rlhf::test::event_files(dir / "run" / stage / "runs");
    ASSERT_EQ(files.size(), 1u) << stage;
    for (const auto& e : rlhf::test::read_scalars(files[0])) {
      tags[stage].insert(e.tag);
      if (std::string(stage) == "dpo") dpo_values[e.tag].push_back(e.value);
    }
  }
  for (const char* tag : {"train/loss", "train/learning_rate", "train/grad_norm", "train/epoch",
                          "train/mean_token_accuracy"})
    EXPECT_EQ(tags["sft"].count(tag), 1u) << tag;
  for (const char* tag : {"train/loss", "train/rewards/chosen", "train/rewards/margins",
                          "eval/loss", "eval/rewards/chosen", "eval/rewards/accuracies"})
    EXPECT_EQ(tags["dpo"].count(tag), 1u) << tag;
  EXPECT_EQ(tags["before"].count("eval/preference_accuracy"), 1u);
  for (const auto& tag : tags["dpo"]) EXPECT_EQ(tag.find("eval_"), std::string::npos) << tag;
  // The values are metrics.jsonl's: the dpo stage's train losses in order.
  std::vector<float> dpo_losses;
  for (const auto& j : lines)
    if (j["stage"] == "dpo" && j.contains("loss")) dpo_losses.push_back(j["loss"].get<float>());
  EXPECT_EQ(dpo_values["train/loss"], dpo_losses);
  // --resume after completion: sft and dpo load their saved results instead of training again.
  ASSERT_EQ(run(host + " --resume " + (dir / "p.toml").string()), 0);
  int train_lines_after_resume = 0;
  for (const auto& j : read_jsonl(dir / "run" / "metrics.jsonl"))
    if (j.contains("loss") && !j.contains("eval_loss")) ++train_lines_after_resume;
  EXPECT_EQ(train_lines_after_resume, sft_lines + dpo_train_lines);
  EXPECT_TRUE(fs::exists(dir / "run" / "dpo" / "stage_complete.json"));

  // A misspelled training key is refused by --check with the TRL name as suggestion.
  std::ofstream(dir / "bad.toml") << "[run]\noutput_dir = \"" << (dir / "bad").string()
                                  << "\"\n[model]\npath = \"" << (dir / "model").string()
                                  << "\"\n[[stage]]\nname = \"o\"\nalgorithm = \"orpo\"\n"
                                     "learnig_rate = 1e-4\ndata = { plugin = \"jsonl\", path = \""
                                  << data << "\" }\n";
  EXPECT_NE(run(host + " --check " + (dir / "bad.toml").string()), 0);
  const std::string text = run_log();
  EXPECT_NE(text.find("learning_rate"), std::string::npos) << text;
}

// Every shipped example pipeline stays valid (keys, plugins, data files) as the code changes;
// run from the repository root, where their relative paths point.
TEST(Pipeline, ShippedExamplesPassCheck) {
  const fs::path dir = rlhf::test::process_temp_path("examples");
  fs::create_directories(dir);
  const std::string host = RLHF_HOST_BINARY;
  const std::string src = RLHF_SOURCE_DIR;
  const std::string model = (dir / "model").string();
  ASSERT_EQ(init_tiny_model(model, 64), 0) << run_log();
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(src) / "examples")) {
    if (entry.path().extension() != ".toml") continue;
    ++checked;
    EXPECT_EQ(run("cd " + src + " && " + host + " --check " + entry.path().string() +
                  " --set model.path=" + model),
              0)
        << entry.path() << ": " << run_log();
  }
  EXPECT_GE(checked, 3);  // orpo, sft-dpo, qlora-sft-dpo
}

// Same pipeline, same seed → the same numbers: LoRA's random A matrices (drawn when the model
// loads, and again for the fresh adapter of merge_adapter_before) come from the seeded
// generator, not from whatever state torch's generator was left in.
TEST(Pipeline, LoraRunsRepeatExactlyUnderOneSeed) {
  const fs::path dir = rlhf::test::process_temp_path("repeat");
  fs::create_directories(dir);
  const std::string host = RLHF_HOST_BINARY;
  const std::string src = RLHF_SOURCE_DIR;
  ASSERT_EQ(init_tiny_model(dir / "model", 64), 0) << run_log();
  const std::string data = src + "/examples/data/polite_train.jsonl";
  std::ofstream(dir / "p.toml")
      << "[run]\noutput_dir = \"unused\"\nseed = 1\n[model]\npath = \"" << (dir / "model").string()
      << "\"\nchat_template = \"zephyr\"\n"
         "[adapter]\nplugin = \"lora\"\nr = 4\ntarget_modules = \"all-linear\"\n"
         "[[stage]]\nname = \"sft\"\nalgorithm = \"sft\"\nmax_steps = 2\nlogging_steps = 1\n"
         "learning_rate = 1e-2\ndata = { plugin = \"jsonl\", path = \""
      << data
      << "\", sample_ratio = 0.02 }\n"
         "[[stage]]\nname = \"orpo\"\nalgorithm = \"orpo\"\nmerge_adapter_before = true\n"
         "max_steps = 2\nlogging_steps = 1\nlearning_rate = 1e-2\n"
         "data = { plugin = \"jsonl\", path = \""
      << data << "\", sample_ratio = 0.02 }\n";
  auto losses = [&](const std::string& name) {
    const fs::path out = dir / name;
    EXPECT_EQ(run(host + " " + (dir / "p.toml").string() +
                  " --set run.seed=5 --set run.output_dir=" + out.string()),
              0)
        << run_log();
    std::vector<double> values;
    for (const auto& j : read_jsonl(out / "metrics.jsonl"))
      values.push_back(j["loss"].get<double>());
    return values;
  };
  const auto first = losses("a");
  ASSERT_EQ(first.size(), 4u);  // sft steps 1-2, orpo steps 1-2
  EXPECT_EQ(first, losses("b"));
}
