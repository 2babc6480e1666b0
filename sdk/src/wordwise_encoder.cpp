// WordwiseEncoder: splitting text into words and the cache pool (see wordwise_encoder.hpp).
#include "wordwise_encoder.hpp"

#include <algorithm>
#include <functional>

#include "rlhf/error.hpp"

namespace rlhf::detail {

namespace {

constexpr std::string_view kMeta = "\xE2\x96\x81";  // "▁", U+2581, sentencepiece's space

// Bytes of the whitespace character at text[i]: ' ' (1), "▁" (3; sentencepiece treats a "▁" in
// the text as a space), else 0. An E2 96 81 in the text is always "▁": sentencepiece decodes
// UTF-8 a character at a time, and E2 is never a continuation byte.
std::size_t space_at(std::string_view text, std::size_t i) {
  if (text[i] == ' ') return 1;
  if (text[i] == '\xE2' && text.compare(i, kMeta.size(), kMeta) == 0) return kMeta.size();
  return 0;
}

}  // namespace

std::string word_split_refusal(const SentencePieceModelFile& m) {
  if (m.model_type != 2) return "not a BPE model (model_type " + std::to_string(m.model_type) + ")";
  if (m.has_charsmap) return "its normaliser rewrites text (precompiled_charsmap)";
  if (!m.add_dummy_prefix) return "add_dummy_prefix is off";
  if (m.remove_extra_whitespaces) return "remove_extra_whitespaces is on";
  if (!m.escape_whitespaces) return "escape_whitespaces is off";
  if (m.treat_whitespace_as_suffix) return "treat_whitespace_as_suffix is on";
  bool meta_is_piece = false;
  for (const auto& p : m.pieces) {
    if (p.type == SentencePieceModelFile::kUnused)
      return "piece '" + p.piece + "' is UNUSED (re-split by context)";
    // Only these take part in merges and in matching text (control, unknown and byte pieces
    // are never formed from text).
    if (p.type != SentencePieceModelFile::kNormal && p.type != SentencePieceModelFile::kUserDefined)
      continue;
    if (p.piece == kMeta) meta_is_piece = true;
    if (p.piece.find(' ') != std::string::npos) return "piece '" + p.piece + "' holds a space";
    std::size_t lead = 0;  // a leading run of "▁" is a word's start; any later "▁" is not
    while (p.piece.compare(lead, kMeta.size(), kMeta) == 0) lead += kMeta.size();
    if (p.piece.find(kMeta, lead) != std::string::npos)
      return "piece '" + p.piece + "' spans a word boundary";
  }
  if (!meta_is_piece && !m.byte_fallback)
    return "'\xE2\x96\x81' is not a piece and byte_fallback is off (unknown pieces would merge "
           "across words)";
  return "";
}

bool splits_lines_exactly(const SentencePieceModelFile& m) {
  if (!m.byte_fallback) return false;  // else unknown characters around a "\n" merge with it
  for (const auto& p : m.pieces)
    if ((p.type == SentencePieceModelFile::kNormal ||
         p.type == SentencePieceModelFile::kUserDefined) &&
        p.piece.find('\n') != std::string::npos)
      return false;
  return true;
}

// A cache taken from the idle ones (or a new one) for one encode call, given back after it.
class WordwiseEncoder::Lease {
 public:
  explicit Lease(const WordwiseEncoder& owner) : owner_(owner) {
    {
      std::lock_guard lock(owner_.mutex_);
      if (!owner_.idle_.empty()) {
        cache_ = std::move(owner_.idle_.back());
        owner_.idle_.pop_back();
      }
    }
    if (!cache_) cache_ = std::make_unique<WordIdsCache>(kMaxWordsPerCache);
  }
  ~Lease() {
    std::lock_guard lock(owner_.mutex_);
    owner_.idle_.push_back(std::move(cache_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  WordIdsCache& cache() { return *cache_; }

 private:
  const WordwiseEncoder& owner_;
  std::unique_ptr<WordIdsCache> cache_;
};

WordwiseEncoder::WordwiseEncoder(const SentencePieceApi& api, void* handle, bool split_lines)
    : api_(api), handle_(handle) {
  if (!split_lines) return;
  // "\n" is the byte piece <0x0A> alone, so sentencepiece encodes "\n" as the ids of a lone "▁"
  // (its dummy prefix), then <0x0A>.
  meta_newline_ = sp_encode("\n");
  split_lines_ =
      meta_newline_.size() >= 2 && meta_newline_.back() == api_.piece_to_id(handle_, "<0x0A>");
  if (!split_lines_) meta_newline_.clear();  // encode_word strips it from "\n…" keys
}

std::vector<int> WordwiseEncoder::sp_encode(std::string_view text) const {
  int* ids = nullptr;
  std::size_t count = 0;
  if (api_.encode(handle_, text.data(), text.size(), &ids, &count) != 0)
    throw Error("sentencepiece: encoding failed");
  const std::unique_ptr<int, void (*)(void*)> owned(ids, api_.free);
  return std::vector<int>(ids, ids + count);
}

void WordwiseEncoder::encode(std::string_view text, std::vector<std::int64_t>& out) const {
  if (text.empty()) return;
  const std::size_t out_start = out.size();
  bool exact = true;
  {
    Lease lease(*this);
    if (!split_lines_) {
      exact = encode_line(text, 0, text.size(), lease.cache(), out);
    } else {
      for (std::size_t begin = 0; exact;) {
        const std::size_t newline = text.find('\n', begin);
        const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
        exact = encode_line(text, begin, end, lease.cache(), out);
        if (newline == std::string_view::npos) break;
        out.push_back(meta_newline_.back());
        begin = newline + 1;
      }
    }
  }
  if (exact) return;
  // A word whose ids did not start as reasoned (never seen; a safety net): sentencepiece's
  // encode of the whole text.
  out.resize(out_start);
  const auto ids = sp_encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
}

// The words of text[begin, end), a line (or the whole text when lines are not split). A word
// starts at a space that follows a non-space. The text's first word takes its "▁" from the
// dummy prefix, so it is encoded as it is; a word that starts with a space is encoded without
// that space, which the dummy prefix stands for; a word that starts a later line is encoded
// after a "\n" (see encode_word). A line's last word of a single space would be encoded as ""
// (no ids, as sentencepiece gives ""), so it stays with the word before it, if any.
bool WordwiseEncoder::encode_line(std::string_view text, std::size_t begin, std::size_t end,
                                  WordIdsCache& cache, std::vector<std::int64_t>& out) const {
  auto word = [&](std::size_t from, std::size_t to) {
    if (from == 0) return encode_word(text.substr(0, to), cache, out);
    const std::size_t space = space_at(text, from);
    if (space == 0) return encode_word(text.substr(from - 1, to - from + 1), cache, out);
    if (from + space == to) {  // a lone "▁" between newlines (only lines are split so)
      if (meta_newline_.empty()) return false;
      out.insert(out.end(), meta_newline_.begin(), meta_newline_.end() - 1);
      return true;
    }
    return encode_word(text.substr(from + space, to - from - space), cache, out);
  };
  if (begin == end) {
    // An empty first line: the text starts with "\n", after the dummy prefix's lone "▁".
    if (begin == 0) out.insert(out.end(), meta_newline_.begin(), meta_newline_.end() - 1);
    return true;
  }
  std::size_t start = begin;
  bool after_space = true;  // no word starts at `begin`: the first one does
  for (std::size_t i = begin; i < end;) {
    const std::size_t w = space_at(text, i);
    if (w == 0) {
      after_space = false;
      ++i;
      continue;
    }
    if (!after_space && i + w < end) {
      if (!word(start, i)) return false;
      start = i;
    }
    after_space = true;
    i += w;
  }
  return word(start, end);
}

// Appends the ids of a word, given by `key`: a text whose sentencepiece encoding (with the
// dummy prefix) is the word's, or, when `key` starts with "\n", whose encoding is the ids of
// "▁\n" and then the word's. False when those ids do not start with the ones of "▁\n".
bool WordwiseEncoder::encode_word(std::string_view key, WordIdsCache& cache,
                                  std::vector<std::int64_t>& out) const {
  const bool keep = key.size() <= kMaxWordBytes;
  const std::size_t hash = keep ? std::hash<std::string_view>{}(key) : 0;
  if (keep) {
    std::size_t count = 0;
    if (const std::int32_t* ids = cache.find(key, hash, count)) {
      out.insert(out.end(), ids, ids + count);
      return true;
    }
  }
  const std::vector<int> ids = sp_encode(key);
  std::size_t skip = 0;
  if (!meta_newline_.empty() && key.front() == '\n') {
    skip = meta_newline_.size();
    if (ids.size() < skip || !std::equal(meta_newline_.begin(), meta_newline_.end(), ids.begin()))
      return false;
  }
  out.insert(out.end(), ids.begin() + static_cast<std::ptrdiff_t>(skip), ids.end());
  if (keep && ids.size() - skip <= 0xFFFF)
    cache.insert(key, hash, ids.data() + skip, ids.size() - skip);
  return true;
}

}  // namespace rlhf::detail
