// Internal: WordwiseEncoder — sentencepiece BPE encoding one word at a time, through a cache.
//
// Tokenising a dataset sends the same few thousand words through sentencepiece millions of
// times, and sentencepiece's encode is ~0.2 µs a byte (bench/README.md,
// "Data (issue 13): `bench/data_bench.cpp`"). For a BPE model whose merges never cross a word
// boundary, the ids of a text are the ids of its words one after another, so each distinct word
// need be encoded once (Hugging Face's BPE caches words the same way).
//
// Why that holds, from sentencepiece's encoder (normalizer.cc, bpe_model.cc,
// sentencepiece_processor.cc), for the models word_split_refusal() accepts:
// - normalisation is the identity on each character (no precompiled_charsmap), ' ' becomes "▁",
//   one "▁" is put in front (add_dummy_prefix), nothing else is added or removed
//   (remove_extra_whitespaces off, whitespace as prefix not suffix);
// - a word is a run of "▁" and the characters up to the next "▁"; BPE only merges two adjacent
//   symbols into a piece of the vocabulary, so when no piece (normal or user-defined) has a "▁"
//   after another character, no merge joins two words, and the merges inside one word happen in
//   the same order alone as within the text (the agenda orders by score, then by position);
// - the ids of one word do not depend on the others: no UNUSED pieces (their re-splitting uses a
//   table shared by the whole text), and a word's first piece is never unknown ("▁" is a piece)
//   or unknown pieces become bytes (byte_fallback), so runs of unknown pieces, which
//   sentencepiece merges into one, never cross a word.
// Lines too, when no piece holds a newline and unknown characters become bytes (Llama's
// tokenizer, and the ones `init-model` trains): each "\n" is then the byte piece <0x0A> alone,
// so text is also split at newlines, and "word.\n\nNext" is three units, not one rare word.
//
// Each word is encoded by the model itself: a word "▁▁w" is sentencepiece's encoding of " w"
// (its dummy prefix supplies the first "▁"), and a word "w" at the start of a line (no "▁") is
// that of "\nw" without the ids of "▁\n" in front; so the cache holds exactly what
// sentencepiece returns. tests/model/tokenizer_words_test.cpp compares the two on varied text.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sentencepiece_model_file.hpp"
#include "sentencepiece_shim.hpp"
#include "word_ids_cache.hpp"

namespace rlhf::detail {

// Why encoding word by word would not give `model`'s ids, or "" when it gives exactly them.
std::string word_split_refusal(const SentencePieceModelFile& model);
// Whether splitting at newlines too gives `model`'s ids (given word_split_refusal() is "").
bool splits_lines_exactly(const SentencePieceModelFile& model);

class WordwiseEncoder {
 public:
  // `handle`: a loaded sentencepiece model that passes word_split_refusal(); not owned.
  // `split_lines`: splits_lines_exactly() of the model.
  WordwiseEncoder(const SentencePieceApi& api, void* handle, bool split_lines);

  // Appends sentencepiece's ids of `text` to `out`. Safe to call from several threads at once:
  // each call works on a cache no other call holds.
  void encode(std::string_view text, std::vector<std::int64_t>& out) const;

  static constexpr std::size_t kMaxWordBytes = 64;           // longer words are encoded, not kept
  static constexpr std::size_t kMaxWordsPerCache = 1 << 16;  // ~4 MB a cache

 private:
  class Lease;
  bool encode_line(std::string_view text, std::size_t begin, std::size_t end, WordIdsCache& cache,
                   std::vector<std::int64_t>& out) const;
  bool encode_word(std::string_view key, WordIdsCache& cache, std::vector<std::int64_t>& out) const;
  std::vector<int> sp_encode(std::string_view text) const;

  const SentencePieceApi& api_;
  void* handle_;
  bool split_lines_ = false;
  std::vector<int> meta_newline_;  // ids of "▁\n": those of a lone "▁", then of "\n"
  // Caches not in use; one per thread encoding at the same time, kept for the next calls.
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<WordIdsCache>> idle_;
};

}  // namespace rlhf::detail
