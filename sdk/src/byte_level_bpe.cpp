#include "byte_level_bpe.hpp"

#include <queue>

#include "rlhf/error.hpp"

namespace rlhf::detail {

namespace {

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else {  // the stand-ins are below U+0800
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

struct ByteSymbols {
  std::string of[256];
  ByteSymbols() {
    // Printable Latin-1 bytes stand for themselves; the others, in order, for U+0100 onwards.
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      of[b] = utf8(printable ? static_cast<char32_t>(b) : next++);
    }
  }
};

std::uint64_t pair_key(std::int64_t a, std::int64_t b) {
  return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
}

}  // namespace

const std::string& byte_symbol(unsigned char b) {
  static const ByteSymbols symbols;
  return symbols.of[b];
}

std::string byte_level_decode(const std::string& token) {
  static const auto from_symbol = [] {
    std::unordered_map<std::string, unsigned char> m;
    for (int b = 0; b < 256; ++b)
      m[byte_symbol(static_cast<unsigned char>(b))] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string out;
  for (std::size_t i = 0; i < token.size();) {
    const auto lead = static_cast<unsigned char>(token[i]);
    const std::size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    const auto it = from_symbol.find(token.substr(i, len));
    if (it == from_symbol.end()) return token;
    out += static_cast<char>(it->second);
    i += len;
  }
  return out;
}

ByteLevelBpe::ByteLevelBpe(std::unordered_map<std::string, std::int64_t> vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges,
                           bool ignore_merges, std::int64_t unk_id, const std::string& where)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges), unk_id_(unk_id) {
  for (int b = 0; b < 256; ++b) byte_id_[b] = id_of(byte_symbol(static_cast<unsigned char>(b)));
  std::int64_t size = 0;
  for (const auto& [token, id] : vocab_) {
    if (id < 0 || id > INT32_MAX)
      throw Error(where + ".vocab: token '" + token + "' has id " + std::to_string(id));
    size = std::max(size, id + 1);
  }
  bytes_.resize(static_cast<std::size_t>(size));
  for (const auto& [token, id] : vocab_)
    bytes_[static_cast<std::size_t>(id)] = byte_level_decode(token);
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const std::int64_t ia = id_of(a), ib = id_of(b), merged = id_of(a + b);
    const std::string field = where + ".merges[" + std::to_string(rank) + "]";
    if (ia < 0 || ib < 0)
      throw Error(field + ": '" + (ia < 0 ? a : b) + "' is not in the vocabulary");
    if (merged < 0) throw Error(field + ": '" + a + b + "' is not in the vocabulary");
    // A pair listed twice keeps its first (lowest) rank, as `tokenizers` does.
    merges_.emplace(pair_key(ia, ib),
                    std::pair{static_cast<std::int32_t>(rank), static_cast<std::int32_t>(merged)});
  }
}

std::int64_t ByteLevelBpe::id_of(const std::string& token) const {
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string& ByteLevelBpe::bytes_of(std::int64_t id) const {
  static const std::string none;
  return id >= 0 && id < size() ? bytes_[static_cast<std::size_t>(id)] : none;
}

void ByteLevelBpe::encode_word(std::string_view word, std::vector<std::int64_t>& out) const {
  std::string key(word);
  {
    std::lock_guard lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const std::size_t start = out.size();
  merge(word, out);
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= (1u << 18)) cache_.clear();  // bounded: a long stream of new words
  cache_.emplace(std::move(key), std::vector<std::int64_t>(
                                     out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
}

void ByteLevelBpe::merge(std::string_view word, std::vector<std::int64_t>& out) const {
  if (ignore_merges_) {
    std::string mapped;
    for (const char c : word) mapped += byte_symbol(static_cast<unsigned char>(c));
    if (const auto id = id_of(mapped); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // Symbols as a linked list; a merge joins a symbol with its next one.
  struct Symbol {
    std::int64_t id;
    int prev, next;
  };
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (const char c : word) {
    const std::int64_t id = byte_id_[static_cast<unsigned char>(c)];
    if (id < 0 && unk_id_ < 0) continue;  // no symbol and no unk token: dropped, as `tokenizers`
    const int i = static_cast<int>(sym.size());
    sym.push_back({id < 0 ? unk_id_ : id, i - 1, i + 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  struct Candidate {
    std::int32_t rank, pos;
    std::int64_t merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int pos) {
    if (pos < 0 || sym[pos].next < 0) return;
    const auto it = merges_.find(pair_key(sym[pos].id, sym[sym[pos].next].id));
    if (it != merges_.end()) queue.push({it->second.first, pos, it->second.second});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& s = sym[top.pos];
    // Stale: the symbol was merged away (id -1) or changed since this pair was queued.
    if (s.id < 0 || s.next < 0) continue;
    const auto it = merges_.find(pair_key(s.id, sym[s.next].id));
    if (it == merges_.end() || it->second.first != top.rank) continue;
    Symbol& right = sym[s.next];
    s.id = top.merged;
    right.id = -1;
    s.next = right.next;
    if (s.next >= 0) sym[s.next].prev = top.pos;
    consider(s.prev);
    consider(top.pos);
  }
  for (int i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace rlhf::detail
