// complete_saved_folder(): the tokenizer and generation files of a saved model or adapter
// folder (tokenizer_files.hpp). File contents follow what transformers' save_pretrained writes
// for a LlamaTokenizer (tokenizer_config.json, special_tokens_map.json), for a model's
// GenerationConfig (generation_config.json), and PEFT's LoraConfig (adapter_config.json).
#include "rlhf/tokenizer_files.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/model_config.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

// The tokenizer files copied as they are (transformers' LlamaTokenizer(Fast) reads them).
const char* const kCopied[] = {"tokenizer.model", "tokenizer.json", "added_tokens.json",
                               "chat_template.jinja"};

// A JSON object file; absent, or a value that is not an object → {} (the Tokenizer reads such a
// file as empty too, as transformers does); not JSON → an error naming the file.
Json read_object(const fs::path& path) {
  if (!fs::exists(path)) return Json::object();
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot read");
  Json j;
  try {
    j = Json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  return j.is_object() ? j : Json::object();
}

void write_json(const fs::path& path, const Json& j) {
  write_file_atomically(path, j.dump(2) + "\n");
}

void copy_file_atomically(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw Error(from.string() + ": cannot read");
  write_file_atomically(to, [&](FileWriter& out) {
    std::vector<char> buffer(1 << 20);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      if (in.gcount() > 0) out.write(buffer.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) throw Error(from.string() + ": read failed");
  });
}

// A token as the source wrote it (a string or an AddedToken object), special_tokens_map.json
// refining tokenizer_config.json as the Tokenizer reads them; null when neither has it.
Json token_field(const Json& config, const Json& map, const char* key) {
  for (const Json* src : {&map, &config})
    if (src->contains(key) && !(*src)[key].is_null()) return (*src)[key];
  return nullptr;
}

std::string token_content(const Json& token) {
  if (token.is_string()) return token.get<std::string>();
  if (token.is_object() && token.contains("content") && token["content"].is_string())
    return token["content"].get<std::string>();
  return {};
}

struct SpecialTokens {
  Json bos, eos, unk, pad;  // pad may be null
};

// The tokens the folder will name, consistent with what `tokenizer` does: the pad token is the
// source's when it is the one the tokenizer pads with; a tokenizer without one pads with EOS,
// which is then written as the pad token (TRL sets `tokenizer.pad_token = eos_token`).
// Llama's defaults fill a sentencepiece folder's missing tokens (the Tokenizer assumes them too);
// a tokenizer.json folder keeps a null token null (Qwen2 has no bos_token).
SpecialTokens special_tokens(const Json& config, const Json& map, const Tokenizer& tokenizer,
                             bool sentencepiece) {
  SpecialTokens t;
  t.bos = token_field(config, map, "bos_token");
  t.eos = token_field(config, map, "eos_token");
  t.unk = token_field(config, map, "unk_token");
  if (sentencepiece) {
    if (t.bos.is_null()) t.bos = "<s>";
    if (t.eos.is_null()) t.eos = "</s>";
    if (t.unk.is_null()) t.unk = "<unk>";
  }
  const Json pad = token_field(config, map, "pad_token");
  if (!pad.is_null() && tokenizer.token_to_id(token_content(pad)) == tokenizer.pad_id())
    t.pad = pad;
  else if (tokenizer.pad_id() == tokenizer.eos_id())
    t.pad = t.eos;
  else
    t.pad = nullptr;  // padding by generation_config.json's pad_token_id, which is kept
  return t;
}

void set_tokens(Json& j, const SpecialTokens& t) {
  j["bos_token"] = t.bos;
  j["eos_token"] = t.eos;
  j["unk_token"] = t.unk;
  if (t.pad.is_null())
    j.erase("pad_token");
  else
    j["pad_token"] = t.pad;
}

// max_position_embeddings of a config.json, when it has one.
std::optional<std::int64_t> max_positions(const fs::path& config_json) {
  const Json j = read_object(config_json);
  if (j.contains("max_position_embeddings") && j["max_position_embeddings"].is_number_integer())
    return j["max_position_embeddings"].get<std::int64_t>();
  return std::nullopt;
}

std::vector<std::int64_t> ids_of(const Json& v) {
  std::vector<std::int64_t> out;
  if (v.is_number_integer()) out.push_back(v.get<std::int64_t>());
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_number_integer()) out.push_back(x.get<std::int64_t>());
  return out;
}

void write_tokenizer_files(const fs::path& dir, const fs::path& source, const Tokenizer& tokenizer,
                           const std::optional<std::string>& chat_template) {
  std::error_code ec;
  const bool same_folder = fs::equivalent(dir, source, ec);
  if (!same_folder)
    for (const char* name : kCopied)
      if (fs::exists(source / name)) copy_file_atomically(source / name, dir / name);

  Json config = read_object(source / "tokenizer_config.json");
  Json map = read_object(source / "special_tokens_map.json");
  const bool sentencepiece = fs::exists(source / "tokenizer.model");
  const SpecialTokens tokens = special_tokens(config, map, tokenizer, sentencepiece);
  if (!config.contains("tokenizer_class"))
    config["tokenizer_class"] = sentencepiece ? "LlamaTokenizer" : "PreTrainedTokenizerFast";
  config["add_bos_token"] = tokenizer.add_bos_token();
  config["add_eos_token"] = tokenizer.add_eos_token();
  set_tokens(config, tokens);
  if (!config.contains("model_max_length"))
    if (auto n = max_positions(source / "config.json")) config["model_max_length"] = *n;
  // "auto" keeps the source's own template (its tokenizer_config.json entry, or its
  // chat_template.jinja copied above).
  if (chat_template && *chat_template != "auto")
    config["chat_template"] = ChatTemplate::get(*chat_template).jinja();
  set_tokens(map, tokens);
  write_json(dir / "tokenizer_config.json", config);
  write_json(dir / "special_tokens_map.json", map);
}

// generation_config.json of a model folder: the source's settings (sampling defaults of a chat
// model, say) with the ids this folder's tokenizer and template stop and pad with.
void write_generation_config(const fs::path& dir, const fs::path& source,
                             const Tokenizer* tokenizer,
                             const std::optional<std::string>& chat_template) {
  const ModelConfig model = ModelConfig::from_json_file(dir / "config.json");
  Json gen = !source.empty() && fs::exists(source / "generation_config.json")
                 ? read_object(source / "generation_config.json")
                 : read_object(dir / "generation_config.json");
  if (!gen.contains("bos_token_id") || gen["bos_token_id"].is_null())
    gen["bos_token_id"] = model.bos_token_id;
  std::vector<std::int64_t> eos = ids_of(gen.value("eos_token_id", Json()));
  if (eos.empty()) eos = model.eos_token_ids;
  auto add_eos = [&eos](std::int64_t id) {
    if (id >= 0 && std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
  };
  if (tokenizer) {
    add_eos(tokenizer->eos_id());
    if (chat_template) {
      const std::string end = (*chat_template == "auto" ? ChatTemplate::for_model("auto", source)
                                                        : ChatTemplate::get(*chat_template))
                                  .end_of_turn();
      if (!end.empty()) add_eos(tokenizer->token_to_id(end));
    }
    gen["pad_token_id"] = tokenizer->pad_id();
  }
  if (eos.size() == 1)
    gen["eos_token_id"] = eos[0];
  else
    gen["eos_token_id"] = eos;
  write_json(dir / "generation_config.json", gen);
}

void name_adapter_base(const fs::path& dir, const fs::path& source) {
  const fs::path file = dir / "adapter_config.json";
  if (!fs::exists(file)) return;  // an adapter plugin without a PEFT config
  Json config = read_object(file);
  if (config.empty()) return;  // not a PEFT config: left as the plugin wrote it
  config["base_model_name_or_path"] = source.string();
  write_json(file, config);
}

}  // namespace

void complete_saved_folder(const fs::path& dir, SavedFolder kind, const fs::path& source_model,
                           const std::optional<std::string>& chat_template) {
  // An empty source (an SDK test's stage, which names no model folder) has nothing to copy.
  const bool has_source = !source_model.empty();
  std::shared_ptr<Tokenizer> tokenizer;
  if (has_source && (fs::exists(source_model / "tokenizer.model") ||
                     fs::exists(source_model / "tokenizer.json"))) {
    tokenizer = Tokenizer::load(source_model);
    write_tokenizer_files(dir, source_model, *tokenizer, chat_template);
  }
  if (kind == SavedFolder::model)
    write_generation_config(dir, source_model, tokenizer.get(), chat_template);
  else if (has_source)
    name_adapter_base(dir, source_model);
}

}  // namespace rlhf
