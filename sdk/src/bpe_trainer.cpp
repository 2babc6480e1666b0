// train_byte_level_bpe_tokenizer: the byte-level BPE tokenizer of a tiny Llama-3 or Qwen2 folder
// made by `rlhf-host init-model` (the families' own tokenizers cannot be downloaded here). The
// training is the textbook one (Sennrich et al. 2016 over GPT-2's byte symbols): split the corpus
// with the family's pre-tokenizer regex, count words, and merge the most frequent adjacent pair
// until the vocabulary is full. The files are laid out as the published tokenizer.json of each
// family (docs/formats.md, "tokenizer.json (byte-level BPE)"), so the SDK's tokenizer.json loader
// reads them the way it reads the real ones.
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <unordered_map>

#include "byte_level_bpe.hpp"
#include "pretokenizer_regex.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace rlhf {

namespace {

// What differs between the families' published tokenizer.json files.
struct Family {
  detail::SplitPattern pattern;
  bool nfc;                          // Qwen2 normalises to NFC, Llama-3 does not normalise
  std::vector<std::string> special;  // added tokens, in id order after the merges
  std::string bos, eos, pad;         // tokenizer_config.json; "" = null
  std::string tokenizer_class;
};

Family family_of(const std::string& name) {
  if (name == "llama3")  // Meta-Llama-3-8B-Instruct
    return {detail::SplitPattern::kLlama3,
            false,
            {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|eot_id|>"},
            "<|begin_of_text|>",
            "<|eot_id|>",
            "",
            "PreTrainedTokenizerFast"};
  if (name == "qwen2")  // Qwen2.5-7B-Instruct
    return {detail::SplitPattern::kQwen2,
            true,
            {"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
            "",
            "<|im_end|>",
            "<|endoftext|>",
            "Qwen2Tokenizer"};
  throw Error("byte-level BPE tokenizer: family must be llama3 or qwen2, not '" + name + "'");
}

// One distinct pre-token of the corpus as a sequence of token ids, and how often it occurs.
struct Word {
  std::vector<std::int32_t> ids;
  std::int64_t count;
};

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
         static_cast<std::uint32_t>(b);
}

std::vector<Word> count_words(const fs::path& corpus, detail::SplitPattern pattern) {
  std::ifstream in(corpus, std::ios::binary);
  if (!in) throw Error(corpus.string() + ": tokenizer corpus not found");
  std::map<std::string, std::int64_t> counts;  // ordered: the same corpus, the same merges
  std::string line;
  std::vector<std::string_view> pieces;
  while (std::getline(in, line)) {
    line += '\n';  // the corpus's newlines are text the tokenizer will see too
    pieces.clear();
    detail::split_pretokens(line, pattern, pieces);
    for (const auto piece : pieces) ++counts[std::string(piece)];
  }
  std::vector<Word> words;
  words.reserve(counts.size());
  for (const auto& [text, count] : counts) {
    Word w{{}, count};
    for (const char c : text) w.ids.push_back(static_cast<unsigned char>(c));
    words.push_back(std::move(w));
  }
  return words;
}

// Replaces each left-to-right occurrence of (a, b) in `ids` by `merged`.
void apply_merge(std::vector<std::int32_t>& ids, std::int32_t a, std::int32_t b,
                 std::int32_t merged) {
  std::size_t out = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) {
      ids[out++] = merged;
      ++i;
    } else {
      ids[out++] = ids[i];
    }
  }
  ids.resize(out);
}

}  // namespace

void train_byte_level_bpe_tokenizer(const fs::path& corpus, const fs::path& out_dir, int vocab_size,
                                    const std::string& family_name,
                                    const std::string& chat_template) {
  const Family family = family_of(family_name);
  const int specials = static_cast<int>(family.special.size());
  if (vocab_size < 256 + specials)
    throw Error("byte-level BPE tokenizer: vocab_size " + std::to_string(vocab_size) +
                " is below the 256 byte tokens plus " + std::to_string(specials) +
                " special tokens");
  std::vector<Word> words = count_words(corpus, family.pattern);

  // Token strings by id: the 256 byte symbols in byte order, then one per merge.
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.push_back(detail::byte_symbol(static_cast<unsigned char>(b)));
  std::unordered_map<std::string, std::int32_t> id_of;
  for (std::int32_t i = 0; i < 256; ++i) id_of[tokens[i]] = i;
  json merges = json::array();
  while (static_cast<int>(tokens.size()) < vocab_size - specials) {
    std::unordered_map<std::uint64_t, std::int64_t> pair_counts;
    for (const auto& w : words)
      for (std::size_t i = 0; i + 1 < w.ids.size(); ++i)
        pair_counts[pair_key(w.ids[i], w.ids[i + 1])] += w.count;
    // The most frequent pair; among equals the smaller (left, right) token strings, so the
    // result does not depend on hash order. A pair seen once teaches nothing: stop.
    std::int64_t best_count = 1;
    std::int32_t best_a = -1, best_b = -1;
    for (const auto& [key, count] : pair_counts) {
      const auto a = static_cast<std::int32_t>(key >> 32);
      const auto b = static_cast<std::int32_t>(key & 0xFFFFFFFFu);
      if (count > best_count ||
          (count == best_count && best_a >= 0 &&
           std::tie(tokens[a], tokens[b]) < std::tie(tokens[best_a], tokens[best_b]))) {
        best_count = count;
        best_a = a;
        best_b = b;
      }
    }
    if (best_a < 0) break;
    const std::string merged = tokens[best_a] + tokens[best_b];
    auto [it, added] = id_of.emplace(merged, static_cast<std::int32_t>(tokens.size()));
    if (added) tokens.push_back(merged);
    merges.push_back(json::array({tokens[best_a], tokens[best_b]}));
    for (auto& w : words) apply_merge(w.ids, best_a, best_b, it->second);
  }

  json vocab = json::object();
  for (std::size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  json added_tokens = json::array();
  for (int i = 0; i < specials; ++i)
    added_tokens.push_back({{"id", tokens.size() + i},
                            {"content", family.special[i]},
                            {"single_word", false},
                            {"lstrip", false},
                            {"rstrip", false},
                            {"normalized", false},
                            {"special", true}});
  const auto byte_level = [](bool add_prefix_space, bool trim_offsets, bool use_regex) {
    return json{{"type", "ByteLevel"},
                {"add_prefix_space", add_prefix_space},
                {"trim_offsets", trim_offsets},
                {"use_regex", use_regex}};
  };
  json tj;
  tj["version"] = "1.0";
  tj["truncation"] = nullptr;
  tj["padding"] = nullptr;
  tj["added_tokens"] = added_tokens;
  tj["normalizer"] = family.nfc ? json{{"type", "NFC"}} : json();
  tj["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({json{{"type", "Split"},
                         {"pattern", {{"Regex", detail::split_pattern_regex(family.pattern)}}},
                         {"behavior", "Isolated"},
                         {"invert", false}},
                    byte_level(false, true, false)})}};
  if (family.bos.empty()) {
    tj["post_processor"] = byte_level(false, false, false);
  } else {  // Llama-3: BOS through a TemplateProcessing post-processor
    const json bos = {{"SpecialToken", {{"id", family.bos}, {"type_id", 0}}}};
    const auto seq = [](const char* id, int type) {
      return json{{"Sequence", {{"id", id}, {"type_id", type}}}};
    };
    json special_tokens;
    special_tokens[family.bos] = {{"id", family.bos},
                                  {"ids", json::array({tokens.size()})},  // the first added token
                                  {"tokens", json::array({family.bos})}};
    tj["post_processor"] = {
        {"type", "Sequence"},
        {"processors",
         json::array({byte_level(true, false, true),
                      json{{"type", "TemplateProcessing"},
                           {"single", json::array({bos, seq("A", 0)})},
                           {"pair", json::array({bos, seq("A", 0),
                                                 json{{"SpecialToken",
                                                       {{"id", family.bos}, {"type_id", 1}}}},
                                                 seq("B", 1)})},
                           {"special_tokens", special_tokens}}})}};
  }
  tj["decoder"] = byte_level(true, true, true);
  tj["model"] = {{"type", "BPE"},
                 {"dropout", nullptr},
                 {"unk_token", nullptr},
                 {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr},
                 {"fuse_unk", false},
                 {"byte_fallback", false},
                 {"ignore_merges", family.pattern == detail::SplitPattern::kLlama3},
                 {"vocab", vocab},
                 {"merges", merges}};

  const auto token_or_null = [](const std::string& t) { return t.empty() ? json() : json(t); };
  json config;
  config["bos_token"] = token_or_null(family.bos);
  config["eos_token"] = family.eos;
  config["pad_token"] = token_or_null(family.pad);
  config["clean_up_tokenization_spaces"] = false;
  config["tokenizer_class"] = family.tokenizer_class;
  if (!chat_template.empty()) config["chat_template"] = chat_template;
  json map;
  if (!family.bos.empty()) map["bos_token"] = family.bos;
  map["eos_token"] = family.eos;
  if (!family.pad.empty()) map["pad_token"] = family.pad;

  fs::create_directories(out_dir);
  write_file_atomically(out_dir / "tokenizer.json", tj.dump(2) + "\n");
  write_file_atomically(out_dir / "tokenizer_config.json", config.dump(2) + "\n");
  write_file_atomically(out_dir / "special_tokens_map.json", map.dump(2) + "\n");
}

}  // namespace rlhf
