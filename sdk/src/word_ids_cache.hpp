// Internal: WordIdsCache — the token ids of words, for one thread at a time.
//
// An open-addressing hash table whose keys and ids live in two flat buffers, so a cached word
// costs ~60 bytes and a lookup no allocation. It holds at most `max_words`; when full it is
// emptied and fills again (natural text repeats its frequent words, which come back at once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rlhf::detail {

class WordIdsCache {
 public:
  explicit WordIdsCache(std::size_t max_words) : max_words_(max_words) { clear(); }

  // The ids of `word` (hash: std::hash<std::string_view> of it), or nullptr when not cached;
  // `count` is set to their number.
  const std::int32_t* find(std::string_view word, std::size_t hash, std::size_t& count) const {
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key_len == 0) return nullptr;
      if (s.hash == hash && s.key_len == word.size() &&
          std::string_view(keys_.data() + s.key_at, s.key_len) == word) {
        count = s.ids_len;
        return ids_.data() + s.ids_at;
      }
    }
  }

  // Keeps the ids of `word` (not cached yet, 1..65535 bytes, at most 65535 ids).
  void insert(std::string_view word, std::size_t hash, const int* ids, std::size_t count) {
    if (words_ >= max_words_) clear();
    if (2 * (words_ + 1) > slots_.size()) grow();
    Slot s{hash, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(ids_.size()),
           static_cast<std::uint16_t>(word.size()), static_cast<std::uint16_t>(count)};
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + count);
    place(s);
    ++words_;
  }

  std::size_t size() const { return words_; }

 private:
  struct Slot {
    std::size_t hash;
    std::uint32_t key_at, ids_at;
    std::uint16_t key_len, ids_len;  // key_len 0: empty slot
  };
  static constexpr std::size_t kInitialSlots = 1024;

  void clear() {
    slots_.assign(kInitialSlots, Slot{});
    mask_ = kInitialSlots - 1;
    keys_.clear();
    ids_.clear();
    words_ = 0;
  }

  void grow() {
    std::vector<Slot> old(2 * slots_.size(), Slot{});
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.key_len) place(s);
  }

  void place(const Slot& s) {
    std::size_t i = s.hash & mask_;
    while (slots_[i].key_len) i = (i + 1) & mask_;
    slots_[i] = s;
  }

  std::size_t max_words_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::string keys_;
  std::vector<std::int32_t> ids_;
  std::size_t words_ = 0;
};

}  // namespace rlhf::detail
