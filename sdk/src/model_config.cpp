#include "rlhf/toolkit/model_config.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "rlhf/error.hpp"

namespace rlhf {

using nlohmann::json;

namespace {

bool is_known_architecture(const std::string& a) {
  return a == "LlamaForCausalLM" || a == "MistralForCausalLM" || a == "Qwen2ForCausalLM" ||
         a == "LlamaForSequenceClassification" || a == "MistralForSequenceClassification" ||
         a == "Qwen2ForSequenceClassification";
}

// Sizes, layer counts and token ids: multiplied into tensor shapes, so bounded far above any
// real model to keep that arithmetic free of overflow.
constexpr std::int64_t kMaxInteger = std::numeric_limits<std::int32_t>::max();

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// An integer value: 2.5, 2.0 and "2" are refused (transformers would fail on them later, or
// truncate), never rounded.
std::int64_t integer_value(const json& v, const std::string& key, const std::string& origin) {
  if (!v.is_number_integer())
    throw ConfigError(origin, key, "expected an integer, got " + v.dump());
  const auto value = v.get<std::int64_t>();
  if (v.is_number_unsigned() ? v.get<std::uint64_t>() > std::uint64_t(kMaxInteger)
                             : value > kMaxInteger || value < -kMaxInteger)
    throw ConfigError(origin, key,
                      v.dump() + " is out of range (at most " + std::to_string(kMaxInteger) + ")");
  return value;
}

// Reads an optional integer key (absent or null → unchanged), with a message naming the key.
void read_integer(const json& j, const char* key, std::int64_t& out, const std::string& origin) {
  if (present(j, key)) out = integer_value(j[key], key, origin);
}

// Reads an optional floating-point key (an integer is accepted).
void read_float(const json& j, const char* key, double& out, const std::string& origin) {
  if (!present(j, key)) return;
  if (!j[key].is_number())
    throw ConfigError(origin, key, "expected a number, got " + j[key].dump());
  out = j[key].get<double>();
}

void read_bool(const json& j, const char* key, bool& out, const std::string& origin) {
  if (!present(j, key)) return;
  if (!j[key].is_boolean()) throw ConfigError(origin, key, "expected true or false");
  out = j[key].get<bool>();
}

std::string read_string(const json& v, const std::string& key, const std::string& origin) {
  if (!v.is_string()) throw ConfigError(origin, key, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

ModelConfig parse(const json& j, const std::string& origin);

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
  try {
    return parse(j, origin);
  } catch (const json::exception& e) {
    // Every key is type-checked before it is read; this is the net under that rule, so that a
    // raw nlohmann message never reaches the user without the file.
    throw Error(origin + ": unexpected value: " + e.what());
  }
}

namespace {

// rope_scaling as transformers' ROPE_INIT_FUNCTIONS reads it, for the types implemented here.
void read_rope_scaling(const json& rs, ModelConfig& c, const std::string& origin) {
  if (!rs.is_object())
    throw ConfigError(origin, "rope_scaling", "expected an object or null, got " + rs.dump());
  std::string type = "default";
  for (const char* key : {"type", "rope_type"})
    if (present(rs, key)) type = read_string(rs[key], std::string("rope_scaling.") + key, origin);
  if (type == "default") return;
  if (type != "linear" && type != "llama3")
    throw ConfigError(
        origin, "rope_scaling",
        "rope scaling type '" + type + "' is not supported (supported: default, linear, llama3)");
  // A required positive number of rope_scaling.
  auto positive = [&](const char* key) {
    const std::string name = std::string("rope_scaling.") + key;
    if (!present(rs, key)) throw ConfigError(origin, name, type + " rope scaling needs " + key);
    double value = 0;
    read_float(rs, key, value, origin);
    if (!(value > 0) || !std::isfinite(value))
      throw ConfigError(origin, name, "must be a finite number > 0, got " + rs[key].dump());
    return value;
  };
  c.rope_type = type;
  c.rope_scaling_factor = positive("factor");
  if (type == "llama3") {
    c.rope_low_freq_factor = positive("low_freq_factor");
    c.rope_high_freq_factor = positive("high_freq_factor");
    if (!(c.rope_high_freq_factor > c.rope_low_freq_factor))
      throw ConfigError(origin, "rope_scaling.high_freq_factor",
                        "must be greater than low_freq_factor");
    if (!present(rs, "original_max_position_embeddings"))
      throw ConfigError(origin, "rope_scaling.original_max_position_embeddings",
                        "llama3 rope scaling needs original_max_position_embeddings");
    c.rope_original_max_position_embeddings =
        integer_value(rs["original_max_position_embeddings"],
                      "rope_scaling.original_max_position_embeddings", origin);
    if (c.rope_original_max_position_embeddings <= 0)
      throw ConfigError(origin, "rope_scaling.original_max_position_embeddings",
                        "must be positive");
  }
}

// Mistral: `sliding_window` on every layer (null = none). Qwen2: only with
// `use_sliding_window`, on the layers from `max_window_layers` on (or those `layer_types` marks
// "sliding_attention", which must be such a tail). Llama configs carry no window.
void read_sliding_window(const json& j, ModelConfig& c, const std::string& origin) {
  std::optional<std::int64_t> window;
  if (j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    window = integer_value(j["sliding_window"], "sliding_window", origin);
    if (*window <= 0)
      throw ConfigError(origin, "sliding_window", "expected a positive integer or null");
  }
  if (c.model_type == "mistral") c.sliding_window = window;
  if (c.model_type != "qwen2") return;
  bool use = false;
  read_bool(j, "use_sliding_window", use, origin);
  c.max_window_layers = 28;  // Qwen2Config's default
  read_integer(j, "max_window_layers", c.max_window_layers, origin);
  if (c.max_window_layers < 0)
    throw ConfigError(origin, "max_window_layers", "must not be negative");
  if (present(j, "layer_types")) {
    const json& types = j["layer_types"];
    if (!types.is_array() || static_cast<std::int64_t>(types.size()) != c.num_hidden_layers)
      throw ConfigError(origin, "layer_types",
                        "expected a list of num_hidden_layers (" +
                            std::to_string(c.num_hidden_layers) + ") layer types");
    std::int64_t full = 0;
    while (full < c.num_hidden_layers && types[full] == "full_attention") ++full;
    for (std::int64_t i = full; i < c.num_hidden_layers; ++i)
      if (types[i] != "sliding_attention")
        throw ConfigError(origin, "layer_types[" + std::to_string(i) + "]",
                          "expected \"full_attention\" layers followed by \"sliding_attention\" "
                          "ones, got " +
                              types[i].dump());
    if (use) c.max_window_layers = full;
  }
  if (use) {
    if (!window) window = 4096;  // Qwen2Config's default
    c.sliding_window = window;
  }
}

ModelConfig parse(const json& j, const std::string& origin) {
  ModelConfig c;

  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
    c.architecture = read_string(j["architectures"][0], "architectures[0]", origin);
    if (!is_known_architecture(c.architecture))
      throw ConfigError(origin, "architectures",
                        "architecture '" + c.architecture +
                            "' is not supported (supported: LlamaForCausalLM, "
                            "MistralForCausalLM, Qwen2ForCausalLM and their "
                            "*ForSequenceClassification)");
  } else if (j.contains("model_type")) {
    const std::string mt = read_string(j["model_type"], "model_type", origin);
    if (mt == "llama")
      c.architecture = "LlamaForCausalLM";
    else if (mt == "mistral")
      c.architecture = "MistralForCausalLM";
    else if (mt == "qwen2")
      c.architecture = "Qwen2ForCausalLM";
    else
      throw ConfigError(
          origin, "model_type",
          "model_type '" + mt + "' is not supported (supported: llama, mistral, qwen2)");
  }
  c.model_type = c.architecture.rfind("Mistral", 0) == 0 ? "mistral"
                 : c.architecture.rfind("Qwen2", 0) == 0 ? "qwen2"
                                                         : "llama";
  if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string mt = j["model_type"].get<std::string>();
    if (mt != "llama" && mt != "mistral" && mt != "qwen2")
      throw ConfigError(
          origin, "model_type",
          "model_type '" + mt + "' is not supported (supported: llama, mistral, qwen2)");
    c.model_type = mt;
  }

  // The MLP implements SiLU (transformers' ACT2FN also spells it "swish"); any other
  // activation would train and save a different function under the same config.
  if (present(j, "hidden_act")) {
    const std::string act = read_string(j["hidden_act"], "hidden_act", origin);
    if (act != "silu" && act != "swish")
      throw ConfigError(origin, "hidden_act",
                        "activation '" + act + "' is not supported (rlhf-host implements silu)");
  }

  read_integer(j, "vocab_size", c.vocab_size, origin);
  read_integer(j, "hidden_size", c.hidden_size, origin);
  read_integer(j, "intermediate_size", c.intermediate_size, origin);
  read_integer(j, "num_hidden_layers", c.num_hidden_layers, origin);
  read_integer(j, "num_attention_heads", c.num_attention_heads, origin);
  c.num_key_value_heads = c.num_attention_heads;
  read_integer(j, "num_key_value_heads", c.num_key_value_heads, origin);
  c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  read_integer(j, "head_dim", c.head_dim, origin);
  read_float(j, "rms_norm_eps", c.rms_norm_eps, origin);
  read_float(j, "rope_theta", c.rope_theta, origin);
  read_integer(j, "max_position_embeddings", c.max_position_embeddings, origin);
  read_bool(j, "tie_word_embeddings", c.tie_word_embeddings, origin);
  read_bool(j, "attention_bias", c.attention_bias, origin);
  read_bool(j, "mlp_bias", c.mlp_bias, origin);
  if (c.model_type == "qwen2") {
    // transformers' Qwen2 fixes its biases whatever the config says: q, k, v with, o and the
    // MLP without.
    c.qkv_bias = true;
    c.attention_bias = false;
    c.mlp_bias = false;
  }
  read_integer(j, "bos_token_id", c.bos_token_id, origin);
  if (!(c.rms_norm_eps > 0))
    throw ConfigError(origin, "rms_norm_eps", "must be > 0, got " + j["rms_norm_eps"].dump());
  if (!(c.rope_theta > 0))
    throw ConfigError(origin, "rope_theta", "must be > 0, got " + j["rope_theta"].dump());
  if (c.max_position_embeddings <= 0)
    throw ConfigError(origin, "max_position_embeddings", "must be positive");

  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    read_rope_scaling(j["rope_scaling"], c, origin);
  read_sliding_window(j, c, origin);

  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    c.eos_token_ids.clear();
    const json& e = j["eos_token_id"];
    if (e.is_array()) {
      for (std::size_t i = 0; i < e.size(); ++i)
        c.eos_token_ids.push_back(
            integer_value(e[i], "eos_token_id[" + std::to_string(i) + "]", origin));
    } else if (e.is_number_integer()) {
      c.eos_token_ids.push_back(integer_value(e, "eos_token_id", origin));
    } else {
      throw ConfigError(origin, "eos_token_id", "expected an integer or a list of integers");
    }
  }
  if (present(j, "pad_token_id"))
    c.pad_token_id = integer_value(j["pad_token_id"], "pad_token_id", origin);
  if (present(j, "torch_dtype"))
    c.torch_dtype = read_string(j["torch_dtype"], "torch_dtype", origin);

  for (const auto& [key, value] : {std::pair<const char*, std::int64_t>{"vocab_size", c.vocab_size},
                                   {"hidden_size", c.hidden_size},
                                   {"intermediate_size", c.intermediate_size},
                                   {"num_hidden_layers", c.num_hidden_layers},
                                   {"num_attention_heads", c.num_attention_heads},
                                   {"num_key_value_heads", c.num_key_value_heads},
                                   {"head_dim", c.head_dim}})
    if (value <= 0)
      throw ConfigError(origin, key, "must be positive, got " + std::to_string(value));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw ConfigError(origin, "num_key_value_heads",
                      "num_attention_heads (" + std::to_string(c.num_attention_heads) +
                          ") must be a multiple of num_key_value_heads (" +
                          std::to_string(c.num_key_value_heads) + ")");
  if (c.head_dim % 2 != 0)
    throw ConfigError(origin, "head_dim", "rotary embeddings need an even head_dim");
  return c;
}

}  // namespace

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
  if (rope_type == "llama3")
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", rope_scaling_factor},
        {"low_freq_factor", rope_low_freq_factor},
        {"high_freq_factor", rope_high_freq_factor},
        {"original_max_position_embeddings", rope_original_max_position_embeddings}};
  else if (rope_scaling_factor != 1.0)
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
  if (model_type == "qwen2") {
    j["use_sliding_window"] = sliding_window.has_value();
    if (sliding_window)
      j["sliding_window"] = *sliding_window;
    else
      j["sliding_window"] = nullptr;
    j["max_window_layers"] = max_window_layers;
  } else {
    // Qwen2 has no such keys: its biases follow from the model type.
    j["attention_bias"] = attention_bias;
    j["mlp_bias"] = mlp_bias;
  }
  j["attention_dropout"] = 0.0;
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
