// config.json parsing for Llama and Mistral, refusals, and the JSON written back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/model_config.hpp"

namespace {

// Mistral-7B-v0.1's config.json (transformers layout).
const char* kMistral = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000})";

std::string error_of(const std::string& json) {
  try {
    rlhf::ModelConfig::from_json_string(json, "config.json");
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelConfig, ParsesMistral) {
  const auto c = rlhf::ModelConfig::from_json_string(kMistral, "config.json");
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.model_type, "mistral");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{2});
  EXPECT_FALSE(c.pad_token_id.has_value());
}

TEST(ModelConfig, LlamaDefaultsEosListRopeScalingAndNullWindow) {
  const auto c = rlhf::ModelConfig::from_json_string(R"({
    "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
    "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
    "eos_token_id": [2, 7], "pad_token_id": 0, "rope_scaling": {"type": "linear", "factor": 4.0},
    "tie_word_embeddings": true, "sliding_window": null})",
                                                     "config.json");
  EXPECT_EQ(c.num_key_value_heads, 4) << "defaults to num_attention_heads";
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling_factor, 4.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{2, 7}));
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.sliding_window.has_value());
  // rope_type spelling (newer transformers) too.
  EXPECT_DOUBLE_EQ(
      rlhf::ModelConfig::from_json_string(
          R"({"model_type": "llama", "rope_scaling": {"rope_type": "linear", "factor": 2}})", "x")
          .rope_scaling_factor,
      2.0);
}

TEST(ModelConfig, RefusalsNameTheKey) {
  const std::string arch = error_of(R"({"architectures": ["GPT2LMHeadModel"]})");
  EXPECT_NE(arch.find("GPT2LMHeadModel"), std::string::npos) << arch;
  EXPECT_NE(arch.find("config.json"), std::string::npos) << arch;
  const std::string rope =
      error_of(R"({"model_type": "llama", "rope_scaling": {"type": "dynamic", "factor": 2}})");
  EXPECT_NE(rope.find("dynamic"), std::string::npos) << rope;
  EXPECT_NE(rope.find("rope_scaling"), std::string::npos) << rope;
  const std::string gqa = error_of(
      R"({"model_type": "llama", "num_attention_heads": 6, "num_key_value_heads": 4, "hidden_size": 48})");
  EXPECT_NE(gqa.find("num_key_value_heads"), std::string::npos) << gqa;
  EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
}

TEST(ModelConfig, ToJsonRoundTripsAndWritesTransformersKeys) {
  const auto c = rlhf::ModelConfig::from_json_string(kMistral, "config.json");
  const auto j = nlohmann::json::parse(c.to_json());
  EXPECT_EQ(j["architectures"][0], "MistralForCausalLM");
  EXPECT_EQ(j["sliding_window"], 4096);
  EXPECT_EQ(j["hidden_act"], "silu");
  const auto back = rlhf::ModelConfig::from_json_string(c.to_json(), "round trip");
  EXPECT_EQ(back.to_json(), c.to_json());
}
