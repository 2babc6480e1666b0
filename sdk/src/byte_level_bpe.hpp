// The model of a byte-level BPE tokenizer (tokenizer.json "model": {"type": "BPE"}): GPT-2's
// byte → character mapping, the vocabulary and the ranked merges, and the merge of one
// pre-tokenized word into ids (Hugging Face `tokenizers`' BPE::merge_word: lowest rank first,
// leftmost among equals).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rlhf::detail {

// GPT-2's bytes_to_unicode(): byte b as the UTF-8 of its printable stand-in character.
const std::string& byte_symbol(unsigned char b);

// The bytes a token's characters stand for (`tokenizers`' ByteLevel decoder): each character
// through the inverse of byte_symbol; a token with a character outside it (an added token such
// as "<|eot_id|> x") stands for its own UTF-8.
std::string byte_level_decode(const std::string& token);

class ByteLevelBpe {
 public:
  // merges: pairs of vocabulary tokens in rank order; `where` names the JSON field in errors.
  ByteLevelBpe(std::unordered_map<std::string, std::int64_t> vocab,
               const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
               std::int64_t unk_id, const std::string& where);

  // Appends the ids of one pre-token (raw bytes; mapped to byte symbols here).
  void encode_word(std::string_view word, std::vector<std::int64_t>& out) const;

  std::int64_t id_of(const std::string& token) const;  // -1 if not in the vocabulary
  // The bytes a token stands for (the byte-level decoder); "" for ids not in the vocabulary.
  const std::string& bytes_of(std::int64_t id) const;
  std::int64_t size() const { return static_cast<std::int64_t>(bytes_.size()); }

 private:
  void merge(std::string_view word, std::vector<std::int64_t>& out) const;

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::vector<std::string> bytes_;                                                   // by id
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges_;  // → rank, id
  std::int64_t byte_id_[256];
  bool ignore_merges_;
  std::int64_t unk_id_;
  // Words seen before → their ids (text repeats its words; merging is the cost).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::int64_t>> cache_;
};

}  // namespace rlhf::detail
