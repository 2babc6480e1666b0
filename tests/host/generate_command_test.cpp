// `rlhf-host generate` through the binary: greedy completions against step-by-step argmax of the
// full forward (no cache, no padding), for a batch of prompts of different lengths; sampling
// seeds; EOS from generation_config.json; bad options; the --out format.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "host_test_util.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

using namespace rlhf::host::testing;
using nlohmann::json;

namespace {

// One tiny model for the whole suite (init-model through the binary).
class Generate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("rlhf-generate");
    auto r = run_host(
        "init-model --out model --hidden-size 32 --intermediate-size 64 --layers 2 "
        "--heads 4 --kv-heads 2 --vocab-size 400 --seed 3 --chat-template zephyr "
        "--corpus " +
            quote(std::string(RLHF_SOURCE_DIR) + "/examples/tokenizer/corpus.txt"),
        dir_->path());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    write_file(
        dir_->path() / "prompts.jsonl",
        R"({"prompt": "Hello"})"
        "\n"
        R"({"prompt": "Tell me a long story about the sea and the ships on it"})"
        "\n"
        R"({"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}]})"
        "\n"
        R"({"prompt": "A", "chosen": "b", "rejected": "c"})"
        "\n");
  }
  static void TearDownTestSuite() { delete dir_; }

  static fs::path model() { return dir_->path() / "model"; }
  static fs::path prompts() { return dir_->path() / "prompts.jsonl"; }
  static const fs::path& cwd() { return dir_->path(); }

  // The --out lines of a run that must succeed.
  static std::vector<json> generate(const std::string& args, const std::string& out_name) {
    auto r = run_host("generate --model model --data prompts.jsonl --out " + out_name + " " + args,
                      cwd());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("tokens/s"), std::string::npos) << r.output;
    std::vector<json> lines;
    std::ifstream in(cwd() / out_name);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }

  static TempDir* dir_;
};
TempDir* Generate::dir_ = nullptr;

// Greedy decoding without a cache or padding: the whole sequence through forward() at every
// step, stopping after a stop token.
std::vector<std::int64_t> reference_greedy(rlhf::CausalLM& model, std::vector<std::int64_t> ids,
                                           std::int64_t steps,
                                           const std::vector<std::int64_t>& stop) {
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> out;
  for (std::int64_t s = 0; s < steps; ++s) {
    const auto n = static_cast<std::int64_t>(ids.size());
    const torch::Tensor logits = model.forward(torch::tensor(ids).view({1, n}),
                                               torch::ones({1, n}, torch::kInt64))[0][n - 1];
    const std::int64_t next = logits.argmax().item<std::int64_t>();
    out.push_back(next);
    ids.push_back(next);
    if (std::find(stop.begin(), stop.end(), next) != stop.end()) break;
  }
  return out;
}

// The prompts of prompts.jsonl as the chat template encodes them.
std::vector<std::vector<std::int64_t>> encoded_prompts(const rlhf::Tokenizer& tok,
                                                       const std::string& chat_template) {
  const auto chat = rlhf::ChatTemplate::get(chat_template);
  const std::vector<std::vector<rlhf::Message>> prompts = {
      {{"user", "Hello"}},
      {{"user", "Tell me a long story about the sea and the ships on it"}},
      {{"system", "Be brief."}, {"user", "Why?"}},
      {{"user", "A"}}};
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& p : prompts) out.push_back(chat.encode(tok, p, {}).prompt);
  return out;
}

std::vector<std::int64_t> ids_of(const json& line) {
  return line["completion_ids"].get<std::vector<std::int64_t>>();
}

}  // namespace

TEST_F(Generate, GreedyEqualsArgmaxOfTheFullForwardForPromptsOfDifferentLengths) {
  // Batches of 3 and 1: rows of different lengths share a left-padded batch.
  const auto lines = generate("--max-new-tokens 12 --batch-size 3", "greedy.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  const auto model_ = rlhf::load_causal_lm(model());
  const auto tok = rlhf::Tokenizer::load(model());
  // The model's tokenizer_config.json names zephyr: its template is the default.
  const auto prompts = encoded_prompts(*tok, "zephyr");
  EXPECT_NE(prompts[0].size(), prompts[1].size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto expected = reference_greedy(*model_, prompts[i], 12, {tok->eos_id()});
    EXPECT_EQ(ids_of(lines[i]), expected) << "prompt " << i;
  }
  // One prompt per batch: the same completions.
  const auto single = generate("--max-new-tokens 12 --batch-size 1", "single.jsonl");
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(ids_of(single[i]), ids_of(lines[i]));
  // An explicit template other than the model's changes the prompt tokens.
  const auto none = generate("--max-new-tokens 12 --chat-template none", "none.jsonl");
  const auto none_prompts = encoded_prompts(*tok, "none");
  EXPECT_EQ(ids_of(none[0]), reference_greedy(*model_, none_prompts[0], 12, {tok->eos_id()}));
}

TEST_F(Generate, OutFileHoldsPromptCompletionAndIdsPerInputLine) {
  const auto lines = generate("--max-new-tokens 5", "format.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  const auto tok = rlhf::Tokenizer::load(model());
  for (const auto& line : lines) {
    ASSERT_TRUE(line.is_object());
    std::vector<std::string> keys;
    for (auto it = line.begin(); it != line.end(); ++it) keys.push_back(it.key());
    EXPECT_EQ(keys.size(), 3u);
    EXPECT_TRUE(line["completion"].is_string());
    ASSERT_TRUE(line["completion_ids"].is_array());
    auto ids = ids_of(line);
    EXPECT_GE(ids.size(), 1u);
    EXPECT_LE(ids.size(), 5u);
    if (ids.back() == tok->eos_id()) ids.pop_back();  // the text stops before the stop token
    EXPECT_EQ(line["completion"], tok->decode(ids));
  }
  // The prompt as the file gave it: a string, or the message list.
  EXPECT_EQ(lines[0]["prompt"], "Hello");
  EXPECT_EQ(lines[2]["prompt"], json::parse(R"([{"role": "system", "content": "Be brief."},
                                                {"role": "user", "content": "Why?"}])"));
  EXPECT_EQ(lines[3]["prompt"], "A");
  // The keys in this order (a jsonl reader relying on it sees the same for every line).
  std::ifstream in(cwd() / "format.jsonl");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first.rfind(R"({"prompt":"Hello","completion":)", 0), 0u) << first;
  EXPECT_NE(first.find(R"(,"completion_ids":[)"), std::string::npos) << first;
}

TEST_F(Generate, SamplingIsReproduciblePerSeedAndTopKOneIsGreedy) {
  const auto a = generate("--max-new-tokens 10 --temperature 1.0 --seed 5", "a.jsonl");
  const auto b = generate("--max-new-tokens 10 --temperature 1.0 --seed 5", "b.jsonl");
  const auto c = generate("--max-new-tokens 10 --temperature 1.0 --seed 6", "c.jsonl");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);  // 4 × 10 draws from a near-uniform random model
  const auto greedy = generate("--max-new-tokens 10", "g.jsonl");
  const auto top1 = generate("--max-new-tokens 10 --temperature 1.0 --top-k 1 --seed 9", "k.jsonl");
  EXPECT_EQ(top1, greedy);
  const auto nucleus =
      generate("--max-new-tokens 10 --temperature 0.7 --top-p 1e-9 --seed 9", "p.jsonl");
  EXPECT_EQ(nucleus, greedy);
}

TEST_F(Generate, StopsAtAnEosTokenOfGenerationConfig) {
  const auto free_run = generate("--max-new-tokens 8 --chat-template zephyr", "free.jsonl");
  // A copy of the model whose generation_config.json also stops at row 0's third token.
  const fs::path stopping = cwd() / "stopping";
  fs::create_directories(stopping);
  for (const auto& e : fs::directory_iterator(model()))
    fs::copy_file(e.path(), stopping / e.path().filename(), fs::copy_options::overwrite_existing);
  const auto row0 = ids_of(free_run[0]);
  ASSERT_GE(row0.size(), 3u);
  const std::int64_t stop = row0[2];
  json gen = json::parse(read_file(stopping / "generation_config.json"));
  gen["eos_token_id"] = {2, stop};
  write_file(stopping / "generation_config.json", gen.dump());

  auto r = run_host(
      "generate --model stopping --data prompts.jsonl --out stop.jsonl "
      "--max-new-tokens 8 --chat-template zephyr",
      cwd());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(cwd() / "stop.jsonl");
  std::size_t i = 0;
  for (std::string line; std::getline(in, line); ++i) {
    const auto full = ids_of(free_run[i]);
    auto at = std::find(full.begin(), full.end(), stop);
    const std::vector<std::int64_t> expected(full.begin(), at == full.end() ? full.end() : at + 1);
    EXPECT_EQ(ids_of(json::parse(line)), expected) << "prompt " << i;
  }
  EXPECT_EQ(i, 4u);
}

TEST_F(Generate, PromptPrintsTheCompletion) {
  auto r = run_host("generate --model model --prompt Hello --max-new-tokens 6", cwd());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = generate("--max-new-tokens 6", "one.jsonl");
  // stdout: the completion of "Hello" (the first prompt of the file), then the speed on stderr.
  EXPECT_NE(r.output.find(lines[0]["completion"].get<std::string>() + "\ngenerate: 1 prompt(s), "),
            std::string::npos)
      << r.output;
}

TEST_F(Generate, BadOptionsExitTwoWithAMessageAndWriteNothing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--data prompts.jsonl --out x.jsonl --temperature=-1", "--temperature"},
      {"--data prompts.jsonl --out x.jsonl --temperature nan", "--temperature"},
      {"--data prompts.jsonl --out x.jsonl --temperature 1 --top-p 0", "--top-p"},
      {"--data prompts.jsonl --out x.jsonl --temperature 1 --top-p 1.5", "--top-p"},
      {"--data prompts.jsonl --out x.jsonl --temperature 1 --top-k=-2", "--top-k"},
      {"--data prompts.jsonl --out x.jsonl --top-k 5", "give --temperature > 0"},
      {"--data prompts.jsonl --out x.jsonl --max-new-tokens 0", "--max-new-tokens"},
      {"--data prompts.jsonl --out x.jsonl --batch-size 0", "--batch-size"},
      {"--data prompts.jsonl --out x.jsonl --chat-template vicuna", "unknown chat template"},
      {"--data prompts.jsonl --out x.jsonl --dtype float64", "--dtype"},
      {"--data prompts.jsonl --out x.jsonl --max-new-tokens many", "max-new-tokens"},
      {"--data prompts.jsonl --out x.jsonl --beam-size 2", "beam-size"},
      {"--data prompts.jsonl", "--data needs --out"},
      {"--prompt hi --data prompts.jsonl --out x.jsonl", "either --prompt"},
      {"--out x.jsonl", "either --prompt"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_host("generate --model model " + args, cwd());
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(cwd() / "x.jsonl")) << args;
  }
}

TEST_F(Generate, BadDataIsAnErrorNamingTheLine) {
  write_file(cwd() / "bad.jsonl", "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt here\"}\n");
  auto r = run_host("generate --model model --data bad.jsonl --out y.jsonl", cwd());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bad.jsonl:2: no prompt"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(cwd() / "y.jsonl"));
  r = run_host("generate --model model --data missing.jsonl --out y.jsonl", cwd());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("missing.jsonl: no such file"), std::string::npos) << r.output;
}
