// Llama-3 (rope_scaling "llama3") and Qwen2 (q/k/v biases, sliding window on the upper layers)
// in the model core: the scaled rotary frequencies against hand-computed values, log-probs
// against the independent computation of reference_model.hpp, config.json parsing and the
// save → load round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "reference_model.hpp"
#include "rlhf/error.hpp"
#include "rlhf/rope_frequencies.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "temp_dir.hpp"

namespace rlhf::families_test {
namespace {

using nlohmann::json;

std::string error_of(const std::string& config_json) {
  try {
    ModelConfig::from_json_string(config_json, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Llama-3.1-8B's config.json, as published (vocabulary and sizes as they are).
const char* kLlama31Config = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})";

// Qwen2.5-7B-Instruct's config.json, as published.
const char* kQwen25Config = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
  "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28,
  "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28,
  "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 152064})";

TEST(Llama3Rope, InverseFrequenciesMatchHandComputedValues) {
  ModelConfig c = ModelConfig::from_json_string(kLlama31Config, "config.json");
  ASSERT_EQ(c.rope_type, "llama3");
  c.head_dim = 16;  // eight frequencies: all three bands of the scaling
  const torch::Tensor inv = detail::rope_inverse_frequencies(c, torch::kCPU);
  ASSERT_EQ(inv.size(0), 8);
  // By hand, theta = 500000, hd = 16: inv[j] = theta^(-j/8), wavelength 2π / inv[j]; the bands
  // are wavelength < 8192/4 = 2048 (kept), > 8192/1 (divided by 8), between (blended).
  //  j = 0: 1 (wavelength 6.28, kept)
  //  j = 3: 500000^(-3/8) = 0.0072926647 (wavelength 861.6, kept)
  //  j = 4: 500000^(-1/2) = 0.0014142136, wavelength 4442.88, smooth = (8192/4442.88 − 1)/3
  //         = 0.281283; (1 − smooth)·inv/8 + smooth·inv = 0.00052484616
  //  j = 5: 500000^(-5/8)/8 = 0.00027424818/8 = 3.4281022e-05 (wavelength 22910.6, divided)
  //  j = 7: 500000^(-7/8)/8 = 1.0313385e-05/8 = 1.2891732e-06
  const std::vector<std::pair<int, double>> expected = {
      {0, 1.0}, {3, 0.0072926647}, {4, 0.00052484616}, {5, 3.4281022e-05}, {7, 1.2891732e-06}};
  for (const auto& [j, value] : expected)
    EXPECT_NEAR(inv[j].item<double>(), value, value * 2e-6) << "j = " << j;
  // Without rope_scaling the same dims are unscaled (j = 7 eight times larger).
  c.rope_type = "default";
  c.rope_scaling_factor = 1.0;
  EXPECT_NEAR(detail::rope_inverse_frequencies(c, torch::kCPU)[7].item<double>(), 1.0313385e-05,
              1e-11);
}

// transformers' `_compute_llama3_parameters`, written out in double precision.
std::vector<double> llama3_inv_freq(const ModelConfig& c) {
  std::vector<double> out;
  const double old_context = static_cast<double>(c.rope_original_max_position_embeddings);
  for (std::int64_t j = 0; j < c.head_dim / 2; ++j) {
    const double inv =
        std::pow(c.rope_theta, -2.0 * static_cast<double>(j) / static_cast<double>(c.head_dim));
    const double wavelen = 2 * M_PI / inv;
    if (wavelen < old_context / c.rope_high_freq_factor) {
      out.push_back(inv);
    } else if (wavelen > old_context / c.rope_low_freq_factor) {
      out.push_back(inv / c.rope_scaling_factor);
    } else {
      const double smooth = (old_context / wavelen - c.rope_low_freq_factor) /
                            (c.rope_high_freq_factor - c.rope_low_freq_factor);
      out.push_back((1 - smooth) * inv / c.rope_scaling_factor + smooth * inv);
    }
  }
  return out;
}

std::vector<double> plain_inv_freq(const ModelConfig& c) {
  std::vector<double> out;
  for (std::int64_t j = 0; j < c.head_dim / 2; ++j)
    out.push_back(
        std::pow(c.rope_theta, -2.0 * static_cast<double>(j) / static_cast<double>(c.head_dim)));
  return out;
}

// A tiny Llama-3-style config: llama3 rope scaling whose three bands all fall within head_dim
// 16 at rope_theta 10000 (original context 32: kept below wavelength 8, divided above 32),
// untied head, grouped-query attention.
ModelConfig tiny_llama3() {
  return ModelConfig::from_json_string(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 40,
    "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": false,
    "rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 32}})",
                                       "llama3");
}

// A tiny Qwen2-style config: the sliding window (3 keys) on layers 1 and 2 of 3, tied
// embeddings.
ModelConfig tiny_qwen2() {
  return ModelConfig::from_json_string(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 40,
    "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "max_position_embeddings": 128, "tie_word_embeddings": true,
    "use_sliding_window": true, "sliding_window": 3, "max_window_layers": 1})",
                                       "qwen2");
}

// A random model with weights large enough (std 0.3, biases 0.5, init's 0.02 would make every
// attention pattern nearly uniform) that rotary frequencies, masks and biases move the log-probs.
std::shared_ptr<CausalLM> random_model(const ModelConfig& c, std::uint64_t seed) {
  torch::manual_seed(seed);
  auto m = std::make_shared<CausalLM>(c, torch::kFloat32);
  torch::NoGradGuard no_grad;
  for (auto& p : m->named_parameters())
    if (p.key().size() >= 4 && p.key().compare(p.key().size() - 4, 4, "bias") == 0)
      p.value().normal_(0.0, 0.5);
    else if (p.key().find("norm") == std::string::npos)
      p.value().normal_(0.0, 0.3);
  return m;
}

StateDict state_of(const CausalLM& m) {
  StateDict sd;
  for (const auto& [n, t] : m.hf_state_dict()) sd[n] = t.to(torch::kFloat64);
  return sd;
}

const std::vector<std::int64_t> kIds = {3, 17, 5, 29, 11, 2, 38, 7, 21, 14};

// The model's log-probs of kIds [n, V], the row alone and again left-padded by 3 in a batch.
std::pair<torch::Tensor, torch::Tensor> model_logps(CausalLM& m) {
  torch::NoGradGuard no_grad;
  const auto n = static_cast<std::int64_t>(kIds.size());
  const torch::Tensor ids = torch::tensor(kIds).view({1, n});
  const torch::Tensor alone =
      torch::log_softmax(m.forward(ids, torch::ones_like(ids)), -1)[0].to(torch::kFloat64);
  const torch::Tensor padded_ids = torch::cat({torch::zeros({1, 3}, torch::kInt64), ids}, 1);
  const torch::Tensor mask =
      torch::cat({torch::zeros({1, 3}, torch::kInt64), torch::ones_like(ids)}, 1);
  const torch::Tensor padded =
      torch::log_softmax(m.forward(torch::cat({padded_ids, padded_ids}), torch::cat({mask, mask})),
                         -1)[1]
          .narrow(0, 3, n)
          .to(torch::kFloat64);
  return {alone, padded};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(FamiliesLogps, Llama3MatchesTheIndependentComputation) {
  const ModelConfig c = tiny_llama3();
  auto m = random_model(c, 1);
  const auto sd = state_of(*m);
  EXPECT_TRUE(sd.count("lm_head.weight"));  // untied
  const auto never = [](std::int64_t) { return false; };
  const torch::Tensor ref =
      torch::log_softmax(reference_logits(c, sd, llama3_inv_freq(c), kIds, 0, never), -1);
  const auto [alone, padded] = model_logps(*m);
  EXPECT_LT(max_diff(alone, ref), 1e-4);
  EXPECT_LT(max_diff(padded, ref), 1e-4);
  // The scaling matters at these positions: unscaled frequencies give other log-probs.
  const torch::Tensor unscaled =
      torch::log_softmax(reference_logits(c, sd, plain_inv_freq(c), kIds, 0, never), -1);
  EXPECT_GT(max_diff(alone, unscaled), 1e-3);
}

TEST(FamiliesLogps, Qwen2MatchesTheIndependentComputation) {
  const ModelConfig c = tiny_qwen2();
  auto m = random_model(c, 2);
  const auto sd = state_of(*m);
  for (const char* proj : {"q_proj", "k_proj", "v_proj"})
    EXPECT_TRUE(sd.count(std::string("model.layers.0.self_attn.") + proj + ".bias")) << proj;
  EXPECT_FALSE(sd.count("model.layers.0.self_attn.o_proj.bias"));
  EXPECT_FALSE(sd.count("model.layers.0.mlp.up_proj.bias"));
  EXPECT_FALSE(sd.count("lm_head.weight"));  // tied
  const auto upper = [](std::int64_t layer) { return layer >= 1; };
  const torch::Tensor ref =
      torch::log_softmax(reference_logits(c, sd, plain_inv_freq(c), kIds, 3, upper), -1);
  const auto [alone, padded] = model_logps(*m);
  EXPECT_LT(max_diff(alone, ref), 1e-4);
  EXPECT_LT(max_diff(padded, ref), 1e-4);
  // Which layers use the window matters: all of them, or none, give other log-probs.
  const auto all = [](std::int64_t) { return true; };
  const auto none = [](std::int64_t) { return false; };
  for (const auto& other : {reference_logits(c, sd, plain_inv_freq(c), kIds, 3, all),
                            reference_logits(c, sd, plain_inv_freq(c), kIds, 3, none)})
    EXPECT_GT(max_diff(alone, torch::log_softmax(other, -1)), 1e-3);
  // Gradient checkpointing (grad mode on) runs each layer with its own mask too.
  m->set_gradient_checkpointing(true);
  const torch::Tensor ids = torch::tensor(kIds).view({1, -1});
  const torch::Tensor logps = torch::log_softmax(m->forward(ids, torch::ones_like(ids)), -1)[0];
  EXPECT_LT(max_diff(logps.detach().to(torch::kFloat64), ref), 1e-4);
  logps.sum().backward();
  const auto grads = m->named_parameters();
  EXPECT_TRUE(grads["model.layers.2.self_attn.q_proj.bias"].grad().defined());
}

TEST(FamiliesConfig, PublishedConfigsParse) {
  const ModelConfig l = ModelConfig::from_json_string(kLlama31Config, "config.json");
  EXPECT_EQ(l.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(l.rope_scaling_factor, 8.0);
  EXPECT_DOUBLE_EQ(l.rope_low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(l.rope_high_freq_factor, 4.0);
  EXPECT_EQ(l.rope_original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(l.rope_theta, 500000.0);
  EXPECT_EQ(l.eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
  EXPECT_FALSE(l.sliding_window);

  const ModelConfig q = ModelConfig::from_json_string(kQwen25Config, "config.json");
  EXPECT_EQ(q.model_type, "qwen2");
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_FALSE(q.attention_bias);
  EXPECT_FALSE(q.sliding_window);  // use_sliding_window false: the 131072 is not used
  EXPECT_FALSE(q.layer_uses_sliding_window(27));
  EXPECT_EQ(q.max_window_layers, 28);

  // Newer transformers write layer_types; the sliding layers must be a tail.
  const ModelConfig t = ModelConfig::from_json_string(
      R"({"model_type": "qwen2", "num_hidden_layers": 3, "use_sliding_window": true,
          "sliding_window": 5, "max_window_layers": 28,
          "layer_types": ["full_attention", "full_attention", "sliding_attention"]})",
      "config.json");
  EXPECT_EQ(t.sliding_window, 5);
  EXPECT_FALSE(t.layer_uses_sliding_window(1));
  EXPECT_TRUE(t.layer_uses_sliding_window(2));
  const std::string mixed = error_of(
      R"({"model_type": "qwen2", "num_hidden_layers": 2, "use_sliding_window": true,
          "layer_types": ["sliding_attention", "full_attention"]})");
  EXPECT_NE(mixed.find("layer_types[1]"), std::string::npos) << mixed;
}

TEST(FamiliesConfig, UnsupportedRopeScalingNamesTheField) {
  for (const char* type : {"yarn", "dynamic", "longrope"}) {
    const std::string e = error_of(std::string(R"({"model_type": "llama", "rope_scaling": )") +
                                   R"({"rope_type": ")" + type + R"(", "factor": 4}})");
    EXPECT_NE(e.find("config.json"), std::string::npos) << e;
    EXPECT_NE(e.find("rope_scaling"), std::string::npos) << e;
    EXPECT_NE(e.find(type), std::string::npos) << e;
  }
  const std::string missing = error_of(
      R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8,
          "high_freq_factor": 4, "original_max_position_embeddings": 8192}})");
  EXPECT_NE(missing.find("rope_scaling.low_freq_factor"), std::string::npos) << missing;
  const std::string order = error_of(
      R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8,
          "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}})");
  EXPECT_NE(order.find("rope_scaling.high_freq_factor"), std::string::npos) << order;
}

TEST(FamiliesSave, RoundTripKeepsConfigTensorsAndLogps) {
  for (const ModelConfig& c : {tiny_llama3(), tiny_qwen2()}) {
    auto m = random_model(c, 3);
    test::TempDir dir;
    m->save_pretrained(dir.path());
    std::ifstream in(dir.path() / "config.json");
    const json saved = json::parse(in);
    if (c.model_type == "qwen2") {
      EXPECT_EQ(saved["architectures"][0], "Qwen2ForCausalLM");
      EXPECT_EQ(saved["use_sliding_window"], true);
      EXPECT_EQ(saved["sliding_window"], 3);
      EXPECT_EQ(saved["max_window_layers"], 1);
      EXPECT_FALSE(saved.contains("attention_bias"));
      const SafetensorsCheckpoint ckpt(dir.path());
      EXPECT_TRUE(ckpt.contains("model.layers.2.self_attn.k_proj.bias"));
      EXPECT_FALSE(ckpt.contains("model.layers.2.self_attn.o_proj.bias"));
    } else {
      EXPECT_EQ(saved["rope_scaling"],
                json::parse(R"({"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 32})"));
    }
    auto loaded = load_causal_lm(dir.path());
    const ModelConfig& l = loaded->config();
    EXPECT_EQ(l.model_type, c.model_type);
    EXPECT_EQ(l.rope_type, c.rope_type);
    EXPECT_EQ(l.rope_original_max_position_embeddings, c.rope_original_max_position_embeddings);
    EXPECT_EQ(l.sliding_window, c.sliding_window);
    EXPECT_EQ(l.max_window_layers, c.max_window_layers);
    EXPECT_EQ(l.qkv_bias, c.qkv_bias);
    EXPECT_EQ(l.tie_word_embeddings, c.tie_word_embeddings);
    EXPECT_EQ(max_diff(model_logps(*loaded).first, model_logps(*m).first), 0.0) << c.model_type;
  }
}

}  // namespace
}  // namespace rlhf::families_test
