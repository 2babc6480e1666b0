// Shared fixtures of the train tests: a tiny tokenizer + Llama model, a minimal LoRA-like test
// adapter (so the policy differs from its adapter-disabled reference at step 0), and the
// independent log-prob computation the algorithm tests compare against.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/adapter.hpp"
#include "rlhf/linear.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "temp_dir.hpp"

namespace rlhf::test {

namespace fs = std::filesystem;

// A tokenizer trained once per test process on the repository's tokenizer corpus.
inline std::shared_ptr<Tokenizer> tiny_tokenizer() {
  static std::shared_ptr<Tokenizer> tok = [] {
    fs::path dir = rlhf::test::process_temp_path("tokenizer");
    if (!fs::exists(dir / "tokenizer.model"))
      train_sentencepiece_tokenizer(fs::path(RLHF_SOURCE_DIR) / "examples/tokenizer/corpus.txt",
                                    dir, 512, {"<|user|>", "<|assistant|>", "<|system|>"});
    return Tokenizer::load(dir);
  }();
  return tok;
}

inline std::shared_ptr<CausalLM> tiny_model(std::int64_t vocab, std::uint64_t seed = 0) {
  ModelConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 256;
  torch::manual_seed(seed);
  return std::make_shared<CausalLM>(c, torch::kFloat32);
}

// y += (x Aᵀ) Bᵀ on q_proj and v_proj, with A and B both random so the adapter changes the
// model from the start.
class TestLayer : public AdapterLayer {
 public:
  TestLayer(std::int64_t in, std::int64_t out)
      : A(torch::randn({4, in}) * 0.3), B(torch::randn({out, 4}) * 0.3) {
    A.set_requires_grad(true);
    B.set_requires_grad(true);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return x.matmul(A.t().to(x.scalar_type())).matmul(B.t().to(x.scalar_type()));
  }
  torch::Tensor A, B;
};

class TestAdapter : public Adapter {
 public:
  void attach(CausalLM& model) override {
    for (auto& p : model.parameters()) p.set_requires_grad(false);
    for (const auto& [name, linear] : model.named_linears()) {
      if (name.find("q_proj") == std::string::npos && name.find("v_proj") == std::string::npos)
        continue;
      auto layer = std::make_shared<TestLayer>(linear->in_features(), linear->out_features());
      linear->set_adapter(layer);
      layers_.push_back(layer);
      params_.emplace_back("base_model.model." + name + ".lora_A.weight", layer->A);
      params_.emplace_back("base_model.model." + name + ".lora_B.weight", layer->B);
    }
  }
  std::vector<torch::Tensor> parameters() override {
    std::vector<torch::Tensor> out;
    for (auto& [n, t] : params_) out.push_back(t);
    return out;
  }
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() override { return params_; }
  void set_enabled(bool on) override {
    enabled_ = on;
    for (auto& l : layers_) l->set_enabled(on);
  }
  bool enabled() const override { return enabled_; }
  void set_training(bool on) override {
    for (auto& l : layers_) l->set_training(on);
  }
  void save(const std::filesystem::path& dir) const override {
    fs::create_directories(dir);
    std::ofstream(dir / "adapter_config.json") << "{\"peft_type\": \"LORA\"}\n";
  }
  void load(const std::filesystem::path&) override {}
  void merge() override {}

 private:
  std::vector<std::shared_ptr<TestLayer>> layers_;
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  bool enabled_ = true;
};

// log π(completion | prompt) of ONE unpadded row, summed in double from log_softmax — the
// independent reference for the algorithms' batched, padded, concatenated forward.
struct RowLogp {
  double sum = 0;
  double tokens = 0;
  double logits_mean = 0;  // mean raw logit over completion positions and the vocabulary
  double mean() const { return sum / tokens; }
};
inline RowLogp row_logp(CausalLM& model, const PromptCompletionIds& row) {
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> ids = row.prompt;
  ids.insert(ids.end(), row.completion.begin(), row.completion.end());
  auto input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  auto logits = model.forward(input, torch::ones_like(input)).to(torch::kDouble)[0];
  auto logp = torch::log_softmax(logits, -1);
  RowLogp out;
  const auto start = static_cast<std::int64_t>(row.prompt.size());
  for (std::int64_t t = start; t < static_cast<std::int64_t>(ids.size()); ++t) {
    out.sum += logp[t - 1][ids[static_cast<std::size_t>(t)]].item<double>();
    out.logits_mean += logits[t - 1].mean().item<double>();
    out.tokens += 1;
  }
  out.logits_mean /= out.tokens;
  return out;
}

}  // namespace rlhf::test
