// `rlhf-host init-model` and `rlhf-host logprobs`, run in-process through the subcommand registry.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

TEST(InitModel, WritesALoadableHfDirectory) {
  const auto& dir = rlhf::test::tiny_model_dir();
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
        "special_tokens_map.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream in(dir / "config.json");
  const auto cfg = json::parse(in);
  EXPECT_EQ(cfg["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(cfg["hidden_size"], 32);
  EXPECT_EQ(cfg["num_key_value_heads"], 2);
  EXPECT_EQ(cfg["vocab_size"], 400);
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  const auto tok = rlhf::Tokenizer::load(dir);
  EXPECT_EQ(tok->vocab_size(), 400);
  const auto model = rlhf::load_causal_lm(dir);
  EXPECT_EQ(model->config().vocab_size, 400);
  // HF init: std 0.02 projections, unit norms.
  const auto q = rlhf::SafetensorsCheckpoint(dir).load("model.layers.0.self_attn.q_proj.weight");
  EXPECT_NEAR(q.std().item<double>(), 0.02, 0.003);
  EXPECT_TRUE(
      torch::equal(rlhf::SafetensorsCheckpoint(dir).load("model.norm.weight"), torch::ones({32})));
  // Same seed, same weights.
  rlhf::test::TempDir again;
  rlhf::test::run_subcommand(
      "init-model",
      {"--out", (again.path() / "m").string(), "--corpus", rlhf::test::corpus_path().string(),
       "--hidden-size", "32", "--intermediate-size", "64", "--heads", "4", "--kv-heads", "2",
       "--layers", "2", "--vocab-size", "400", "--seed", "7"});
  EXPECT_TRUE(torch::equal(
      rlhf::SafetensorsCheckpoint(again.path() / "m").load("model.embed_tokens.weight"),
      rlhf::SafetensorsCheckpoint(dir).load("model.embed_tokens.weight")));
}

TEST(InitModel, RefusesToOverwriteWithoutForce) {
  rlhf::test::TempDir dir;
  EXPECT_THROW(rlhf::test::run_subcommand("init-model", {"--out", dir.path().string()}),
               rlhf::Error);
}

TEST(LogprobsCommand, WritesSummedCompletionLogpsPerExample) {
  const auto& model_dir = rlhf::test::tiny_model_dir();
  rlhf::test::TempDir dir;
  const auto data = dir.path() / "prefs.jsonl";
  {
    std::ofstream out(data);
    out << R"({"prompt": "What is the capital of France?", "chosen": "Paris.", "rejected": "The capital is Rome, I think."})"
        << "\n";
    out << R"({"prompt": [{"role": "user", "content": "Name three colours."}], "chosen": [{"role": "assistant", "content": "Red, blue and yellow."}], "rejected": [{"role": "assistant", "content": "No."}]})"
        << "\n";
    out << R"({"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away."}]})"
        << "\n";
  }
  const auto out_file = dir.path() / "logps.jsonl";
  ASSERT_EQ(rlhf::test::run_subcommand(
                "logprobs", {"--model", model_dir.string(), "--data", data.string(), "--out",
                             out_file.string(), "--chat-template", "zephyr", "--batch-size", "2"}),
            0);
  std::ifstream in(out_file);
  std::vector<json> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 3u);

  // Recompute example 0's chosen log-prob by hand: full forward of the unpadded row, then
  // Σ log softmax over the completion tokens.
  const auto tok = rlhf::Tokenizer::load(model_dir);
  const auto model = rlhf::load_causal_lm(model_dir);
  const auto chat = rlhf::ChatTemplate::get("zephyr");
  auto expected = [&](const std::vector<rlhf::Message>& p, const std::vector<rlhf::Message>& c) {
    const auto ids = chat.encode(*tok, p, c);
    std::vector<std::int64_t> all = ids.prompt;
    all.insert(all.end(), ids.completion.begin(), ids.completion.end());
    const auto n = static_cast<std::int64_t>(all.size());
    torch::NoGradGuard ng;
    const auto lsm = torch::log_softmax(
        model->forward(torch::tensor(all).view({1, n}), torch::ones({1, n}, torch::kInt64))[0].to(
            torch::kFloat64),
        -1);
    double sum = 0;
    for (auto t = static_cast<std::int64_t>(ids.prompt.size()); t < n; ++t)
      sum += lsm[t - 1][all[static_cast<std::size_t>(t)]].item<double>();
    return std::make_pair(sum, static_cast<std::int64_t>(ids.completion.size()));
  };
  const auto [c0, n0] =
      expected({{"user", "What is the capital of France?"}}, {{"assistant", "Paris."}});
  EXPECT_NEAR(lines[0]["chosen_logps"].get<double>(), c0, 1e-3);
  EXPECT_EQ(lines[0]["chosen_tokens"].get<std::int64_t>(), n0);
  const auto [r2, m2] = expected({{"user", "Hi"}}, {{"assistant", "Go away."}});
  EXPECT_NEAR(lines[2]["rejected_logps"].get<double>(), r2, 1e-3);
  EXPECT_EQ(lines[2]["rejected_tokens"].get<std::int64_t>(), m2);
  for (const auto& l : lines) {
    EXPECT_LT(l["chosen_logps"].get<double>(), 0.0);
    EXPECT_GT(l["rejected_tokens"].get<std::int64_t>(), 0);
  }
}

TEST(InitModel, RunsThroughTheRlhfHostBinary) {
  rlhf::test::TempDir dir;
  const auto out = dir.path() / "m";
  const std::string cmd = std::string(RLHF_HOST_BINARY) + " init-model --out " + out.string() +
                          " --corpus " + rlhf::test::corpus_path().string() +
                          " --vocab-size 360 --hidden-size 16 --heads 2 --kv-heads 1 --layers 1"
                          " --architecture mistral --sliding-window 8 > " +
                          (dir.path() / "log").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto model = rlhf::load_causal_lm(out);
  EXPECT_EQ(model->config().architecture, "MistralForCausalLM");
  EXPECT_EQ(model->config().sliding_window, 8);
  EXPECT_EQ(rlhf::Tokenizer::load(out)->vocab_size(), 360);
  // A second run refuses to overwrite: non-zero exit, one line naming the directory.
  EXPECT_NE(std::system(cmd.c_str()), 0);
  std::ifstream log(dir.path() / "log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("already exists"), std::string::npos) << text;
}
