// Sentencepiece tokenizer with transformers' LlamaTokenizer behaviour.
//
// Special-token strings (bos/eos/unk/pad and added tokens) are split out of the text first and
// map to their ids; the text between them goes through sentencepiece. With `"legacy": false`
// in tokenizer_config.json a segment that follows a special token gets no dummy-prefix "▁"
// (transformers' non-legacy mode: "<s>[INST]" → <s>, "[", …); with legacy (transformers'
// default when the key is absent) every segment is encoded on its own, prefix included.
// Segments go through sentencepiece word by word with a cache when the model allows it exactly
// (wordwise_encoder.hpp), else through sentencepiece's encode.
#include "rlhf/toolkit/tokenizer.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "bpe_tokenizer.hpp"
#include "rlhf/error.hpp"
#include "rlhf/sentencepiece_tokenizer.hpp"
#include "segment_memo.hpp"
#include "sentencepiece_model_file.hpp"
#include "sentencepiece_shim.hpp"
#include "wordwise_encoder.hpp"

namespace rlhf {

namespace fs = std::filesystem;
using nlohmann::json;

Tokenizer::~Tokenizer() = default;

namespace {

json read_json_if_exists(const fs::path& path) {
  if (!fs::exists(path)) return json::object();
  std::ifstream in(path);
  try {
    json j = json::parse(in);
    return j.is_object() ? j : json::object();
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

// A boolean setting of tokenizer_config.json: absent or null → `fallback`; any other type is an
// error naming the file and the key (transformers would fail on it too, less clearly).
bool flag(const json& j, const char* key, bool fallback, const fs::path& file) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean())
    throw Error(file.string() + ": '" + key + "' must be true or false, not " + j[key].dump());
  return j[key].get<bool>();
}

// A token id written as a JSON object key ("32000"): digits only, else an error naming the key.
std::int64_t token_id_key(const std::string& key, const fs::path& file) {
  if (key.empty() || key.size() > 12 || key.find_first_not_of("0123456789") != std::string::npos)
    throw Error(file.string() + ": 'added_tokens_decoder': key '" + key + "' is not a token id");
  return std::stoll(key);
}

// A token field is a string or an AddedToken object {"content": "..."}; null/absent → "".
std::string token_string(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return {};
  const json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(const fs::path& dir, bool word_cache) : api_(detail::sentencepiece_api()) {
    const fs::path model = dir / "tokenizer.model";
    if (!fs::exists(model)) throw Error(model.string() + ": tokenizer.model not found");
    char* err = nullptr;
    handle_ = api_.load(model.string().c_str(), &err);
    if (!handle_) {
      std::string msg = err ? err : "unknown error";
      api_.free(err);
      throw Error(model.string() + ": cannot load sentencepiece model: " + msg);
    }
    if (word_cache) {
      // sentencepiece has loaded the file, so an error here is about our reading of it: the
      // plain encode is right whatever it is.
      std::string refusal;
      try {
        const auto file = detail::read_sentencepiece_model_file(model);
        refusal = detail::word_split_refusal(file);
        if (refusal.empty())
          words_ = std::make_unique<detail::WordwiseEncoder>(api_, handle_,
                                                             detail::splits_lines_exactly(file));
      } catch (const Error& e) {
        refusal = e.what();
      }
      if (!refusal.empty())
        spdlog::debug("{}: encoding without the word cache: {}", model.string(), refusal);
    }
    sp_size_ = api_.vocab_size(handle_);
    vocab_size_ = sp_size_;
    std::vector<std::int64_t> guard;
    sp_encode(kGuard, guard);
    guard_pieces_ = guard.size();

    const json cfg = read_json_if_exists(dir / "tokenizer_config.json");
    const json map = read_json_if_exists(dir / "special_tokens_map.json");
    const json gen = read_json_if_exists(dir / "generation_config.json");
    add_bos_ = flag(cfg, "add_bos_token", true, dir / "tokenizer_config.json");
    add_eos_ = flag(cfg, "add_eos_token", false, dir / "tokenizer_config.json");
    legacy_ = !(cfg.contains("legacy") && cfg["legacy"].is_boolean() && !cfg["legacy"].get<bool>());

    // Added tokens: tokenizer_config's added_tokens_decoder and the older added_tokens.json.
    if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object())
      for (auto it = cfg["added_tokens_decoder"].begin(); it != cfg["added_tokens_decoder"].end();
           ++it)
        if (it.value().is_object() && it.value().contains("content") &&
            it.value()["content"].is_string())
          add_special(it.value()["content"].get<std::string>(),
                      token_id_key(it.key(), dir / "tokenizer_config.json"));
    const json added = read_json_if_exists(dir / "added_tokens.json");
    for (auto it = added.begin(); it != added.end(); ++it)
      if (it.value().is_number_integer()) add_special(it.key(), it.value().get<std::int64_t>());

    // special_tokens_map.json refines tokenizer_config.json.
    auto pick = [&](const char* key, const std::string& fallback) {
      std::string s = token_string(map, key);
      if (s.empty()) s = token_string(cfg, key);
      return s.empty() ? fallback : s;
    };
    const std::string bos = pick("bos_token", "<s>"), eos = pick("eos_token", "</s>");
    const std::string unk = pick("unk_token", "<unk>"), pad = pick("pad_token", "");
    for (const char* key : {"additional_special_tokens"})
      for (const json* src : {&cfg, &map})
        if (src->contains(key) && (*src)[key].is_array())
          for (const auto& t : (*src)[key]) {
            const std::string s =
                t.is_string() ? t.get<std::string>() : token_string(json{{"t", t}}, "t");
            const auto id = resolve(s);
            if (id >= 0) add_special(s, id);
          }
    bos_id_ = resolve_required(bos, "bos_token", model);
    eos_id_ = resolve_required(eos, "eos_token", model);
    unk_id_ = resolve(unk);
    for (auto [s, id] : {std::pair{bos, bos_id_}, std::pair{eos, eos_id_}, std::pair{unk, unk_id_}})
      if (id >= 0) add_special(s, id);
    if (!pad.empty() && resolve(pad) >= 0) {
      pad_id_ = resolve(pad);
      add_special(pad, pad_id_);
    } else if (gen.contains("pad_token_id") && gen["pad_token_id"].is_number_integer() &&
               gen["pad_token_id"].get<std::int64_t>() >= 0 &&
               gen["pad_token_id"].get<std::int64_t>() < vocab_size_) {
      pad_id_ = gen["pad_token_id"].get<std::int64_t>();
    } else {
      // A pad id outside the vocabulary (-1 in some converted Llama checkpoints) would index
      // past the embeddings; padding is masked, so any real token serves.
      if (gen.contains("pad_token_id") && !gen["pad_token_id"].is_null())
        spdlog::warn("{}: 'pad_token_id' {} is not a token of this tokenizer (0..{}); ignored",
                     (dir / "generation_config.json").string(), gen["pad_token_id"].dump(),
                     vocab_size_ - 1);
      pad_id_ = eos_id_;
      spdlog::info("{}: tokenizer has no pad token; padding with eos_token '{}' (id {})",
                   dir.string(), eos, eos_id_);
    }
  }

  ~SentencePieceTokenizer() override {
    if (handle_) api_.destroy(handle_);
  }

  std::vector<std::int64_t> encode(const std::string& text, bool add_bos,
                                   bool add_eos) const override {
    std::vector<std::int64_t> out;
    out.reserve(text.size() / 4 + 8);  // ~4 bytes a token in English text; grows when more
    if (add_bos) out.push_back(bos_id_);
    std::size_t pos = 0;
    bool after_special = false;
    while (pos < text.size()) {
      // Earliest special token; the longest one when several start at the same place.
      std::size_t best = std::string::npos, best_len = 0;
      std::int64_t best_id = -1;
      for (const auto& [s, id] : special_) {
        const std::size_t at = text.find(s, pos);
        if (at == std::string::npos) continue;
        if (at < best || (at == best && s.size() > best_len)) {
          best = at;
          best_len = s.size();
          best_id = id;
        }
      }
      const std::size_t end = best == std::string::npos ? text.size() : best;
      if (end > pos)
        encode_segment(std::string_view(text).substr(pos, end - pos), after_special && !legacy_,
                       out);
      if (best == std::string::npos) break;
      out.push_back(best_id);
      pos = best + best_len;
      after_special = true;
    }
    if (add_eos) out.push_back(eos_id_);
    return out;
  }

  std::string decode(const std::vector<std::int64_t>& ids,
                     bool skip_special_tokens) const override {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      char* s = api_.decode(handle_, run.data(), run.size());
      if (s) {
        out += s;
        api_.free(s);
      }
      run.clear();
    };
    for (auto id : ids) {
      auto sp = special_ids_.find(id);
      const bool control =
          id >= 0 && id < sp_size_ && api_.id_kind(handle_, static_cast<int>(id)) == 1;
      if (sp != special_ids_.end() || control || id >= sp_size_ || id < 0) {
        flush();
        if (!skip_special_tokens && sp != special_ids_.end()) out += sp->second;
        continue;
      }
      run.push_back(static_cast<int>(id));
    }
    flush();
    return out;
  }

  std::int64_t vocab_size() const override { return vocab_size_; }
  std::int64_t bos_id() const override { return bos_id_; }
  std::int64_t eos_id() const override { return eos_id_; }
  std::int64_t pad_id() const override { return pad_id_; }
  bool add_bos_token() const override { return add_bos_; }
  bool add_eos_token() const override { return add_eos_; }
  std::int64_t token_to_id(const std::string& token) const override { return resolve(token); }

 private:
  void add_special(const std::string& s, std::int64_t id) {
    if (s.empty() || id < 0) return;
    special_[s] = id;
    special_ids_.emplace(id, s);
    vocab_size_ = std::max(vocab_size_, id + 1);
  }

  std::int64_t resolve(const std::string& token) const {
    if (token.empty()) return -1;
    auto it = special_.find(token);
    if (it != special_.end()) return it->second;
    const int id = api_.piece_to_id(handle_, token.c_str());
    // sentencepiece answers unk_id for unknown pieces.
    if (id < 0 || (api_.id_kind(handle_, id) == 2 && token != piece(id))) return -1;
    return id;
  }

  std::int64_t resolve_required(const std::string& token, const char* key,
                                const fs::path& model) const {
    const auto id = resolve(token);
    if (id < 0)
      throw Error(model.string() + ": " + key + " '" + token + "' is not in the vocabulary");
    return id;
  }

  std::string piece(int id) const {
    char* s = api_.id_to_piece(handle_, id);
    std::string out = s ? s : "";
    api_.free(s);
    return out;
  }

  // Appends sentencepiece's ids of `text` to `out`.
  void sp_encode(std::string_view text, std::vector<std::int64_t>& out) const {
    if (words_) return words_->encode(text, out);
    int* ids = nullptr;
    std::size_t n = 0;
    if (api_.encode(handle_, text.data(), text.size(), &ids, &n) != 0)
      throw Error("sentencepiece: encoding failed");
    out.insert(out.end(), ids, ids + n);
    api_.free(ids);
  }

  // Without the dummy prefix: encode "<unk>" + text and drop the pieces of "<unk>" (the way
  // transformers' non-legacy LlamaTokenizer does).
  void encode_segment(std::string_view text, bool no_prefix, std::vector<std::int64_t>& out) const {
    if (const auto* ids = detail::segment_memo().find(serial_, no_prefix, text)) {
      out.insert(out.end(), ids->begin(), ids->end());
      return;
    }
    const std::size_t start = out.size();
    if (no_prefix) {
      std::string guarded;
      guarded.reserve(kGuard.size() + text.size());
      sp_encode(guarded.append(kGuard).append(text), out);
      const auto first = out.begin() + static_cast<std::ptrdiff_t>(start);
      out.erase(first,
                first + static_cast<std::ptrdiff_t>(std::min(guard_pieces_, out.size() - start)));
    } else {
      sp_encode(text, out);
    }
    detail::segment_memo().keep(serial_, no_prefix, text,
                                out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
  }

  const detail::SentencePieceApi& api_;
  static inline const std::string kGuard = "<unk>";
  const std::uint64_t serial_ = detail::next_tokenizer_serial();
  std::size_t guard_pieces_ = 0;  // pieces of kGuard
  void* handle_ = nullptr;
  std::unique_ptr<detail::WordwiseEncoder> words_;  // null: plain sentencepiece encode
  std::int64_t sp_size_ = 0, vocab_size_ = 0;
  std::int64_t bos_id_ = 1, eos_id_ = 2, unk_id_ = 0, pad_id_ = 2;
  bool add_bos_ = true, add_eos_ = false, legacy_ = true;
  std::map<std::string, std::int64_t> special_;
  std::map<std::int64_t, std::string> special_ids_;
};

// config.json's vocab_size when the tokenizer's folder holds a readable one (the model's), else
// nothing: a bad config.json is the model loader's to report.
std::optional<std::int64_t> model_vocab_size(const fs::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) return std::nullopt;
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("vocab_size") || !j["vocab_size"].is_number_integer())
    return std::nullopt;
  return j["vocab_size"].get<std::int64_t>();
}

}  // namespace

std::shared_ptr<Tokenizer> Tokenizer::load(const fs::path& dir) {
  return detail::load_tokenizer(dir, /*word_cache=*/true);
}

std::shared_ptr<Tokenizer> detail::load_tokenizer(const fs::path& dir, bool word_cache) {
  std::shared_ptr<Tokenizer> tokenizer;
  // The files present choose: tokenizer.model → sentencepiece (also when a tokenizer.json sits
  // beside it, as in Llama-2 folders), else tokenizer.json → byte-level BPE.
  const bool sentencepiece =
      fs::exists(dir / "tokenizer.model") || !fs::exists(dir / "tokenizer.json");
  const fs::path file = dir / (sentencepiece ? "tokenizer.model" : "tokenizer.json");
  if (!fs::exists(file))
    throw Error(file.string() + ": tokenizer.model not found (nor tokenizer.json)");
  try {
    if (sentencepiece)
      tokenizer = std::make_shared<SentencePieceTokenizer>(dir, word_cache);
    else
      tokenizer = detail::load_bpe_tokenizer(dir);
  } catch (const json::exception& e) {
    // The fields are type-checked before they are read; this is the net under that rule.
    throw Error(dir.string() + ": tokenizer files: unexpected value: " + e.what());
  }
  // Every id the tokenizer can produce must have an embedding row; fewer tokens than
  // vocab_size is normal (embeddings padded to a multiple of 64, say).
  if (const auto vocab = model_vocab_size(dir); vocab && tokenizer->vocab_size() > *vocab)
    throw Error(file.string() + ": the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                " tokens (pieces and added tokens) but " + (dir / "config.json").string() +
                " 'vocab_size' is " + std::to_string(*vocab) + ": ids " + std::to_string(*vocab) +
                ".." + std::to_string(tokenizer->vocab_size() - 1) +
                " would have no embedding row (use the model's own tokenizer, or resize its "
                "embeddings)");
  return tokenizer;
}

std::string detail::word_cache_refusal(const fs::path& tokenizer_model) {
  return word_split_refusal(read_sentencepiece_model_file(tokenizer_model));
}

void detail::train_sentencepiece_model(const std::string& trainer_args) {
  char* err = nullptr;
  const auto& api = sentencepiece_api();
  if (api.train(trainer_args.c_str(), &err) != 0) {
    std::string msg = err ? err : "unknown error";
    api.free(err);
    throw Error("sentencepiece training failed: " + msg);
  }
}

void train_sentencepiece_tokenizer(const fs::path& corpus, const fs::path& out_dir, int vocab_size,
                                   const std::vector<std::string>& user_defined_symbols) {
  if (!fs::exists(corpus)) throw Error(corpus.string() + ": tokenizer corpus not found");
  fs::create_directories(out_dir);
  const fs::path prefix = out_dir / ("tokenizer.tmp-train");
  // Llama's tokenizer settings: BPE, byte fallback, digits split, no normalisation, dummy prefix.
  std::string args = "--input=" + corpus.string() + " --model_prefix=" + prefix.string() +
                     " --vocab_size=" + std::to_string(vocab_size) +
                     " --model_type=bpe --character_coverage=1.0 --byte_fallback=true"
                     " --split_digits=true --allow_whitespace_only_pieces=true"
                     " --normalization_rule_name=identity --remove_extra_whitespaces=false"
                     " --add_dummy_prefix=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1"
                     " --num_threads=1 --minloglevel=2";
  if (!user_defined_symbols.empty()) {
    args += " --user_defined_symbols=";
    for (std::size_t i = 0; i < user_defined_symbols.size(); ++i) {
      const auto& s = user_defined_symbols[i];
      if (s.find_first_of(", \t\n") != std::string::npos)
        throw Error("tokenizer training: user-defined symbol '" + s +
                    "' may not contain commas or whitespace");
      args += (i ? "," : "") + s;
    }
  }
  char* err = nullptr;
  const auto& api = detail::sentencepiece_api();
  if (api.train(args.c_str(), &err) != 0) {
    std::string msg = err ? err : "unknown error";
    api.free(err);
    throw Error(corpus.string() + ": sentencepiece training failed: " + msg);
  }
  fs::rename(prefix.string() + ".model", out_dir / "tokenizer.model");
  fs::remove(prefix.string() + ".vocab");

  auto write_json = [](const fs::path& path, const nlohmann::ordered_json& j) {
    {
      std::ofstream out(path.string() + ".tmp");
      out << j.dump(2) << "\n";
      if (!out) throw Error(path.string() + ": write failed");
    }
    fs::rename(path.string() + ".tmp", path);
  };
  nlohmann::ordered_json cfg;
  cfg["tokenizer_class"] = "LlamaTokenizer";
  cfg["add_bos_token"] = true;
  cfg["add_eos_token"] = false;
  cfg["bos_token"] = "<s>";
  cfg["eos_token"] = "</s>";
  cfg["unk_token"] = "<unk>";
  cfg["pad_token"] = nullptr;
  cfg["legacy"] = false;
  cfg["clean_up_tokenization_spaces"] = false;
  cfg["sp_model_kwargs"] = nlohmann::ordered_json::object();
  write_json(out_dir / "tokenizer_config.json", cfg);
  nlohmann::ordered_json map;
  map["bos_token"] = "<s>";
  map["eos_token"] = "</s>";
  map["unk_token"] = "<unk>";
  write_json(out_dir / "special_tokens_map.json", map);
}

}  // namespace rlhf
