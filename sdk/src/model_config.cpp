#include "rlhf/model_config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "rlhf/error.hpp"

namespace rlhf {

using nlohmann::json;

namespace {

bool is_known_architecture(const std::string& a) {
  return a == "LlamaForCausalLM" || a == "MistralForCausalLM" ||
         a == "LlamaForSequenceClassification" || a == "MistralForSequenceClassification";
}

// Reads an optional integer key (absent or null → unchanged), with a message naming the key.
template <typename T>
void read_number(const json& j, const char* key, T& out, const std::string& origin) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_number())
    throw ConfigError(origin, key, "expected a number, got " + j[key].dump());
  out = j[key].get<T>();
}

void read_bool(const json& j, const char* key, bool& out, const std::string& origin) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_boolean()) throw ConfigError(origin, key, "expected true or false");
  out = j[key].get<bool>();
}

}  // namespace

ModelConfig ModelConfig::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open model config");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_string(ss.str(), path.string());
}

ModelConfig ModelConfig::from_json_string(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(origin + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(origin + ": config is not a JSON object");
  ModelConfig c;

  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
    c.architecture = j["architectures"][0].get<std::string>();
    if (!is_known_architecture(c.architecture))
      throw ConfigError(origin, "architectures",
                        "architecture '" + c.architecture +
                            "' is not supported (supported: LlamaForCausalLM, "
                            "MistralForCausalLM, LlamaForSequenceClassification, "
                            "MistralForSequenceClassification)");
  } else if (j.contains("model_type")) {
    const std::string mt = j["model_type"].get<std::string>();
    if (mt == "llama")
      c.architecture = "LlamaForCausalLM";
    else if (mt == "mistral")
      c.architecture = "MistralForCausalLM";
    else
      throw ConfigError(origin, "model_type",
                        "model_type '" + mt + "' is not supported (supported: llama, mistral)");
  }
  c.model_type = c.architecture.rfind("Mistral", 0) == 0 ? "mistral" : "llama";
  if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string mt = j["model_type"].get<std::string>();
    if (mt != "llama" && mt != "mistral")
      throw ConfigError(origin, "model_type",
                        "model_type '" + mt + "' is not supported (supported: llama, mistral)");
    c.model_type = mt;
  }

  read_number(j, "vocab_size", c.vocab_size, origin);
  read_number(j, "hidden_size", c.hidden_size, origin);
  read_number(j, "intermediate_size", c.intermediate_size, origin);
  read_number(j, "num_hidden_layers", c.num_hidden_layers, origin);
  read_number(j, "num_attention_heads", c.num_attention_heads, origin);
  c.num_key_value_heads = c.num_attention_heads;
  read_number(j, "num_key_value_heads", c.num_key_value_heads, origin);
  c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  read_number(j, "head_dim", c.head_dim, origin);
  read_number(j, "rms_norm_eps", c.rms_norm_eps, origin);
  read_number(j, "rope_theta", c.rope_theta, origin);
  read_number(j, "max_position_embeddings", c.max_position_embeddings, origin);
  read_bool(j, "tie_word_embeddings", c.tie_word_embeddings, origin);
  read_bool(j, "attention_bias", c.attention_bias, origin);
  read_bool(j, "mlp_bias", c.mlp_bias, origin);
  read_number(j, "bos_token_id", c.bos_token_id, origin);

  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    std::string type = rs.value("rope_type", rs.value("type", std::string()));
    if (type == "linear") {
      if (!rs.contains("factor") || !rs["factor"].is_number() || rs["factor"].get<double>() <= 0)
        throw ConfigError(origin, "rope_scaling.factor", "linear rope scaling needs factor > 0");
      c.rope_scaling_factor = rs["factor"].get<double>();
    } else if (type != "default") {
      throw ConfigError(origin, "rope_scaling",
                        "rope scaling type '" + type + "' is not supported (only 'linear')");
    }
  }

  if (j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    if (!j["sliding_window"].is_number_integer() || j["sliding_window"].get<std::int64_t>() <= 0)
      throw ConfigError(origin, "sliding_window", "expected a positive integer or null");
    // Llama configs carry no window; a Mistral one may (null = full causal attention).
    if (c.model_type == "mistral") c.sliding_window = j["sliding_window"].get<std::int64_t>();
  }

  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    c.eos_token_ids.clear();
    const json& e = j["eos_token_id"];
    if (e.is_array()) {
      for (const auto& v : e) c.eos_token_ids.push_back(v.get<std::int64_t>());
    } else if (e.is_number_integer()) {
      c.eos_token_ids.push_back(e.get<std::int64_t>());
    } else {
      throw ConfigError(origin, "eos_token_id", "expected an integer or a list of integers");
    }
  }
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
    c.pad_token_id = j["pad_token_id"].get<std::int64_t>();
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string())
    c.torch_dtype = j["torch_dtype"].get<std::string>();

  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.num_hidden_layers <= 0 || c.vocab_size <= 0 || c.intermediate_size <= 0 || c.head_dim <= 0)
    throw Error(origin +
                ": hidden_size, intermediate_size, num_hidden_layers, "
                "num_attention_heads, num_key_value_heads, head_dim, vocab_size "
                "must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw ConfigError(origin, "num_key_value_heads",
                      "num_attention_heads (" + std::to_string(c.num_attention_heads) +
                          ") must be a multiple of num_key_value_heads (" +
                          std::to_string(c.num_key_value_heads) + ")");
  if (c.head_dim % 2 != 0)
    throw ConfigError(origin, "head_dim", "rotary embeddings need an even head_dim");
  return c;
}

std::string ModelConfig::to_json() const {
  nlohmann::ordered_json j;
  j["architectures"] = {architecture};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling_factor != 1.0)
    j["rope_scaling"] = {
        {"type", "linear"}, {"rope_type", "linear"}, {"factor", rope_scaling_factor}};
  else
    j["rope_scaling"] = nullptr;
  j["max_position_embeddings"] = max_position_embeddings;
  j["initializer_range"] = 0.02;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "mistral") {
    if (sliding_window)
      j["sliding_window"] = *sliding_window;
    else
      j["sliding_window"] = nullptr;
  }
  j["attention_bias"] = attention_bias;
  j["attention_dropout"] = 0.0;
  j["mlp_bias"] = mlp_bias;
  j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  if (pad_token_id)
    j["pad_token_id"] = *pad_token_id;
  else
    j["pad_token_id"] = nullptr;
  j["torch_dtype"] = torch_dtype;
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

}  // namespace rlhf
