// SegmentMemo — the token ids of the last few long text segments this thread encoded, per
// tokenizer.
//
// A chat template encodes a preference pair's prompt four times: on its own and at the head of
// the whole conversation, for chosen and for rejected (ChatTemplate::encode). The tokenizer
// encodes the text between special tokens one segment at a time, and a segment's ids depend on
// its text (and whether it takes the dummy prefix) alone, so the prompt's segments are encoded
// once and reused (bench/data_bench.cpp: ~37% less text through sentencepiece for
// UltraFeedback-sized pairs). One memo per thread, so tokenising on several threads shares
// nothing; keyed by a serial number per tokenizer, which unlike an address is never reused.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rlhf::detail {

// 1, 2, 3, …: one per tokenizer made in this process (0 marks an empty memo entry).
inline std::uint64_t next_tokenizer_serial() {
  static std::atomic<std::uint64_t> next{1};
  return next++;
}

class SegmentMemo {
 public:
  static constexpr std::size_t kEntries = 4;           // a pair's prompt, chosen, rejected
  static constexpr std::size_t kMinBytes = 64;         // shorter ones are cheap to encode again
  static constexpr std::size_t kMaxBytes = 256 << 10;  // a memo never holds a whole document

  const std::vector<std::int64_t>* find(std::uint64_t owner, bool no_prefix,
                                        std::string_view text) const {
    if (text.size() < kMinBytes || text.size() > kMaxBytes) return nullptr;
    for (const auto& e : entries_)
      if (e.owner == owner && e.no_prefix == no_prefix && e.text == text) return &e.ids;
    return nullptr;
  }

  template <typename It>
  void keep(std::uint64_t owner, bool no_prefix, std::string_view text, It begin, It end) {
    if (text.size() < kMinBytes || text.size() > kMaxBytes) return;
    Entry& e = entries_[next_];
    next_ = (next_ + 1) % kEntries;
    e.owner = owner;
    e.no_prefix = no_prefix;
    e.text = text;
    e.ids.assign(begin, end);
  }

 private:
  struct Entry {
    std::uint64_t owner = 0;
    bool no_prefix = false;
    std::string text;
    std::vector<std::int64_t> ids;
  };
  std::array<Entry, kEntries> entries_;
  std::size_t next_ = 0;
};

// This thread's memo.
inline SegmentMemo& segment_memo() {
  thread_local SegmentMemo memo;
  return memo;
}

}  // namespace rlhf::detail
