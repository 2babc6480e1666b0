// tokenizer.json byte-level BPE with Hugging Face `tokenizers` behaviour:
//   added tokens are split out of the text first (leftmost, longest at one place) and map to
//   their ids; the text between goes through the normalizer (none or NFC), the pre-tokenizer
//   (a Split regex of pretokenizer_regex.hpp, then ByteLevel; or ByteLevel with GPT-2's regex)
//   and the BPE model (byte_level_bpe.hpp); decoding maps the tokens' characters back to bytes
//   (the ByteLevel decoder). BOS/EOS/pad come from tokenizer_config.json; add_bos_token, when
//   the config does not say, is whether the post_processor's template starts with the BOS token
//   (Llama-3 adds <|begin_of_text|> that way).
// Decoding returns the bytes as they are: an id sequence cut inside a character gives
// incomplete UTF-8, which `tokenizers` would replace with U+FFFD; concatenated pieces stay exact.
#include "bpe_tokenizer.hpp"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "byte_level_bpe.hpp"
#include "pretokenizer_regex.hpp"
#include "rlhf/error.hpp"

namespace rlhf::detail {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& path, bool required) {
  std::ifstream in(path);
  if (!in) {
    if (required) throw Error(path.string() + ": cannot read");
    return json::object();
  }
  try {
    json j = json::parse(in);
    if (!j.is_object()) {
      if (required) throw Error(path.string() + ": not a JSON object");
      return json::object();
    }
    return j;
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

// Reads tokenizer.json fields with errors that name the file and the field's path.
class Fields {
 public:
  explicit Fields(fs::path file) : file_(std::move(file)) {}
  const fs::path& file() const { return file_; }
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(file_.string() + ": '" + field + "' " + what);
  }
  const json& object(const json& parent, const std::string& key, const std::string& field) const {
    if (!parent.contains(key) || !parent[key].is_object()) fail(field, "must be an object");
    return parent[key];
  }
  std::string string(const json& j, const std::string& key, const std::string& field) const {
    if (!j.contains(key) || !j[key].is_string()) fail(field, "must be a string");
    return j[key].get<std::string>();
  }
  bool flag(const json& j, const std::string& key, bool fallback, const std::string& field) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) fail(field, "must be true or false, not " + j[key].dump());
    return j[key].get<bool>();
  }
  // "type" of a component; "null" for a null component.
  std::string type(const json& j, const std::string& field) const {
    if (j.is_null()) return "null";
    if (!j.is_object()) fail(field, "must be an object or null");
    return string(j, "type", field + ".type");
  }

 private:
  fs::path file_;
};

// A token setting of tokenizer_config.json: a string or an AddedToken object; null/absent → "".
std::string config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg[key].is_null()) return {};
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

struct AddedToken {
  std::string content;
  std::int64_t id;
  bool special;
};

class BpeTokenizer : public Tokenizer {
 public:
  explicit BpeTokenizer(const fs::path& dir) {
    const fs::path file = dir / "tokenizer.json";
    const json tj = read_json(file, true);
    const Fields f(file);
    read_model(tj, f);
    read_normalizer(tj.contains("normalizer") ? tj["normalizer"] : json(), f);
    read_pre_tokenizer(tj.contains("pre_tokenizer") ? tj["pre_tokenizer"] : json(), f);
    const json none;
    const std::string decoder = f.type(tj.contains("decoder") ? tj["decoder"] : none, "decoder");
    if (decoder != "ByteLevel")
      f.fail("decoder.type", "is '" + decoder + "': only ByteLevel is supported");
    read_added_tokens(tj, f);
    read_config(dir, tj);
  }

  std::vector<std::int64_t> encode(const std::string& text, bool add_bos,
                                   bool add_eos) const override {
    std::vector<std::int64_t> out;
    out.reserve(text.size() / 3 + 8);
    if (add_bos) out.push_back(bos_id_);
    // Next occurrence of each added token at or after pos (npos: none left).
    std::vector<std::size_t> next(added_.size());
    for (std::size_t k = 0; k < added_.size(); ++k) next[k] = text.find(added_[k].content);
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t best = std::string::npos, best_k = 0;
      for (std::size_t k = 0; k < added_.size(); ++k) {
        if (next[k] != std::string::npos && next[k] < pos)
          next[k] = text.find(added_[k].content, pos);
        if (next[k] == std::string::npos) continue;
        if (next[k] < best ||
            (next[k] == best && added_[k].content.size() > added_[best_k].content.size())) {
          best = next[k];
          best_k = k;
        }
      }
      const std::size_t end = best == std::string::npos ? text.size() : best;
      if (end > pos) encode_segment(std::string_view(text).substr(pos, end - pos), out);
      if (best == std::string::npos) break;
      out.push_back(added_[best_k].id);
      pos = best + added_[best_k].content.size();
    }
    if (add_eos) out.push_back(eos_id_);
    return out;
  }

  std::string decode(const std::vector<std::int64_t>& ids,
                     bool skip_special_tokens) const override {
    std::string out;
    for (const auto id : ids) {
      const auto it = added_by_id_.find(id);
      if (it != added_by_id_.end()) {
        if (!(skip_special_tokens && it->second.special)) out += it->second.bytes;
        continue;
      }
      out += bpe_->bytes_of(id);
    }
    return out;
  }

  std::int64_t vocab_size() const override { return vocab_size_; }
  std::int64_t bos_id() const override { return bos_id_; }
  std::int64_t eos_id() const override { return eos_id_; }
  std::int64_t pad_id() const override { return pad_id_; }
  bool add_bos_token() const override { return add_bos_; }
  bool add_eos_token() const override { return add_eos_; }
  std::int64_t token_to_id(const std::string& token) const override {
    for (const auto& a : added_)
      if (a.content == token) return a.id;
    return bpe_->id_of(token);
  }

 private:
  void read_model(const json& tj, const Fields& f) {
    const json& model = f.object(tj, "model", "model");
    const std::string type = model.contains("type") ? f.string(model, "type", "model.type") : "";
    if (type != "BPE")
      f.fail("model.type", "is '" + type +
                               "': only byte-level BPE is supported (not WordPiece, Unigram or "
                               "WordLevel)");
    if (f.flag(model, "byte_fallback", false, "model.byte_fallback"))
      f.fail("model.byte_fallback",
             "is true: byte fallback is not supported (byte-level BPE only)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(key) && !model[key].is_null() &&
          !(model[key].is_string() && model[key].get<std::string>().empty()))
        f.fail(std::string("model.") + key, "is set: not supported");
    if (model.contains("dropout") && !model["dropout"].is_null() &&
        !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
      f.fail("model.dropout", "is set: BPE dropout is not supported");
    const bool ignore_merges = f.flag(model, "ignore_merges", false, "model.ignore_merges");
    const json& vocab_json = f.object(model, "vocab", "model.vocab");
    std::unordered_map<std::string, std::int64_t> vocab;
    vocab.reserve(vocab_json.size());
    for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
      if (!it.value().is_number_integer())
        f.fail("model.vocab", "token '" + it.key() + "' has no integer id");
      vocab.emplace(it.key(), it.value().get<std::int64_t>());
    }
    if (!model.contains("merges") || !model["merges"].is_array())
      f.fail("model.merges", "must be an array");
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(model["merges"].size());
    for (const auto& m : model["merges"]) {
      const std::string field = "model.merges[" + std::to_string(merges.size()) + "]";
      if (m.is_string()) {  // "a b"
        const std::string s = m.get<std::string>();
        const auto space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          f.fail(field, "must be two tokens separated by one space, not '" + s + "'");
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        f.fail(field, "must be \"a b\" or [\"a\", \"b\"]");
      }
    }
    std::int64_t unk = -1;
    const std::string unk_token = config_token(model, "unk_token");
    if (!unk_token.empty()) {
      const auto it = vocab.find(unk_token);
      if (it == vocab.end())
        f.fail("model.unk_token", "'" + unk_token + "' is not in the vocabulary");
      unk = it->second;
    }
    bpe_ = std::make_unique<ByteLevelBpe>(std::move(vocab), merges, ignore_merges, unk,
                                          f.file().string() + ": model");
    vocab_size_ = bpe_->size();
  }

  void read_normalizer(const json& n, const Fields& f) {
    const std::string type = f.type(n, "normalizer");
    if (type == "null") return;
    if (type == "NFC") {
      nfc_ = true;
      return;
    }
    if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
      for (std::size_t i = 0; i < n["normalizers"].size(); ++i) {
        const std::string field = "normalizer.normalizers[" + std::to_string(i) + "]";
        const std::string t = f.type(n["normalizers"][i], field);
        if (t != "NFC") f.fail(field + ".type", "is '" + t + "': only NFC is supported");
        nfc_ = true;
      }
      return;
    }
    f.fail("normalizer.type", "is '" + type + "': only NFC (or none) is supported");
  }

  // ByteLevel's own settings: no prefix space (Llama-3, Qwen2, GPT-2 all have none).
  bool read_byte_level(const json& p, const Fields& f, const std::string& field) {
    if (f.flag(p, "add_prefix_space", false, field + ".add_prefix_space"))
      f.fail(field + ".add_prefix_space", "is true: not supported");
    return f.flag(p, "use_regex", true, field + ".use_regex");
  }

  void read_pre_tokenizer(const json& p, const Fields& f) {
    const std::string type = f.type(p, "pre_tokenizer");
    if (type == "ByteLevel") {
      if (!read_byte_level(p, f, "pre_tokenizer"))
        f.fail("pre_tokenizer.use_regex", "is false with no Split before it: not supported");
      pattern_ = SplitPattern::kGpt2;
      return;
    }
    if (type != "Sequence")
      f.fail("pre_tokenizer.type",
             "is '" + type + "': only ByteLevel or Sequence[Split, ByteLevel] is supported");
    const json& list = p.contains("pretokenizers") ? p["pretokenizers"] : json();
    if (!list.is_array() || list.size() != 2)
      f.fail("pre_tokenizer.pretokenizers", "must be [Split, ByteLevel]");
    const std::string split = "pre_tokenizer.pretokenizers[0]";
    if (const auto t = f.type(list[0], split); t != "Split")
      f.fail(split + ".type", "is '" + t + "': only Split is supported before ByteLevel");
    const json& pat = f.object(list[0], "pattern", split + ".pattern");
    if (!pat.contains("Regex")) f.fail(split + ".pattern", "must be {\"Regex\": ...}");
    const std::string regex = f.string(pat, "Regex", split + ".pattern.Regex");
    const auto found = split_pattern_of(regex);
    if (!found)
      f.fail(split + ".pattern.Regex",
             "is not a supported split pattern (Llama-3's, Qwen2's and GPT-2's are): " + regex);
    pattern_ = *found;
    if (f.string(list[0], "behavior", split + ".behavior") != "Isolated")
      f.fail(split + ".behavior", "must be \"Isolated\"");
    if (f.flag(list[0], "invert", false, split + ".invert"))
      f.fail(split + ".invert", "is true: not supported");
    const std::string bl = "pre_tokenizer.pretokenizers[1]";
    if (const auto t = f.type(list[1], bl); t != "ByteLevel")
      f.fail(bl + ".type", "is '" + t + "': ByteLevel must follow the Split");
    if (read_byte_level(list[1], f, bl))
      f.fail(bl + ".use_regex", "is true after a Split: not supported");
  }

  void read_added_tokens(const json& tj, const Fields& f) {
    if (!tj.contains("added_tokens") || tj["added_tokens"].is_null()) return;
    if (!tj["added_tokens"].is_array()) f.fail("added_tokens", "must be an array");
    for (std::size_t i = 0; i < tj["added_tokens"].size(); ++i) {
      const json& a = tj["added_tokens"][i];
      const std::string field = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object()) f.fail(field, "must be an object");
      if (!a.contains("id") || !a["id"].is_number_integer() || a["id"].get<std::int64_t>() < 0)
        f.fail(field + ".id", "must be a token id");
      const std::string content = f.string(a, "content", field + ".content");
      if (content.empty()) f.fail(field + ".content", "is empty");
      for (const char* key : {"lstrip", "rstrip", "single_word"})
        if (f.flag(a, key, false, field + "." + key))
          f.fail(field + "." + key, "is true: not supported");
      const AddedToken token{content, a["id"].get<std::int64_t>(),
                             f.flag(a, "special", false, field + ".special")};
      added_.push_back(token);
      added_by_id_[token.id] = {token.special, byte_level_decode(content)};
      vocab_size_ = std::max(vocab_size_, token.id + 1);
    }
  }

  // Whether the post_processor's single-sequence template starts (or ends) with `token`.
  static bool template_adds(const json& pp, const std::string& token, bool at_start) {
    if (!pp.is_object() || !pp.contains("type") || token.empty()) return false;
    if (pp["type"] == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
      for (const auto& p : pp["processors"])
        if (template_adds(p, token, at_start)) return true;
      return false;
    }
    if (pp["type"] != "TemplateProcessing" || !pp.contains("single") || !pp["single"].is_array() ||
        pp["single"].empty())
      return false;
    const json& piece = at_start ? pp["single"].front() : pp["single"].back();
    return piece.contains("SpecialToken") && piece["SpecialToken"].is_object() &&
           piece["SpecialToken"].value("id", std::string()) == token;
  }

  void read_config(const fs::path& dir, const json& tj) {
    const fs::path file = dir / "tokenizer_config.json";
    const json cfg = read_json(file, false);
    const json pp = tj.contains("post_processor") ? tj["post_processor"] : json();
    const std::string bos = config_token(cfg, "bos_token"), eos = config_token(cfg, "eos_token");
    const std::string pad = config_token(cfg, "pad_token");
    auto setting = [&](const char* key, bool fallback) {
      if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
      if (!cfg[key].is_boolean())
        throw Error(file.string() + ": '" + key + "' must be true or false, not " +
                    cfg[key].dump());
      return cfg[key].get<bool>();
    };
    add_bos_ = setting("add_bos_token", template_adds(pp, bos, true));
    add_eos_ = setting("add_eos_token", template_adds(pp, eos, false));
    auto id_of = [&](const std::string& token, const char* key) {
      const auto id = token_to_id(token);
      if (id < 0)
        throw Error(file.string() + ": '" + key + "' '" + token + "' is not a token of " +
                    (dir / "tokenizer.json").string());
      return id;
    };
    if (eos.empty())
      throw Error(file.string() + ": 'eos_token' is not set (a tokenizer.json folder needs it)");
    eos_id_ = id_of(eos, "eos_token");
    if (!bos.empty()) bos_id_ = id_of(bos, "bos_token");
    if (add_bos_ && bos_id_ < 0)
      throw Error(file.string() + ": 'add_bos_token' is true but 'bos_token' is not set");
    pad_id_ = pad.empty() ? eos_id_ : id_of(pad, "pad_token");
  }

  void encode_segment(std::string_view text, std::vector<std::int64_t>& out) const {
    std::string normalized;
    if (nfc_) {
      static const auto* nfc = [] {
        UErrorCode status = U_ZERO_ERROR;
        const auto* n = icu::Normalizer2::getNFCInstance(status);
        if (U_FAILURE(status))
          throw Error("ICU: no NFC normalizer: " + std::string(u_errorName(status)));
        return n;
      }();
      // ASCII is NFC already; only text with other characters goes through ICU.
      bool ascii = true;
      for (const char c : text) ascii &= static_cast<unsigned char>(c) < 0x80;
      if (!ascii) {
        UErrorCode status = U_ZERO_ERROR;
        const icu::UnicodeString s = icu::UnicodeString::fromUTF8(
            icu::StringPiece(text.data(), static_cast<std::int32_t>(text.size())));
        nfc->normalize(s, status).toUTF8String(normalized);
        if (U_FAILURE(status)) throw Error("ICU: NFC failed: " + std::string(u_errorName(status)));
        text = normalized;
      }
    }
    thread_local std::vector<std::string_view> words;
    words.clear();
    split_pretokens(text, pattern_, words);
    for (const auto word : words) bpe_->encode_word(word, out);
  }

  struct Added {
    bool special;
    std::string bytes;
  };
  std::unique_ptr<ByteLevelBpe> bpe_;
  std::vector<AddedToken> added_;
  std::map<std::int64_t, Added> added_by_id_;
  SplitPattern pattern_ = SplitPattern::kGpt2;
  bool nfc_ = false;
  std::int64_t vocab_size_ = 0, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  bool add_bos_ = false, add_eos_ = false;
};

}  // namespace

std::shared_ptr<Tokenizer> load_bpe_tokenizer(const fs::path& dir) {
  return std::make_shared<BpeTokenizer>(dir);
}

}  // namespace rlhf::detail
