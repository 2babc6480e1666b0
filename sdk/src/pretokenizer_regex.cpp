// Each alternative of the patterns is tried in order at a position, as a backtracking regex
// engine does; the comments give the alternative each branch is. Greedy runs with a following
// lookahead or a required class are resolved by where their backtracking stops (see each).
#include "pretokenizer_regex.hpp"

#include <unicode/uchar.h>

#include <cstdint>

namespace rlhf::detail {

namespace {

const std::string kContractions = "'s|'t|'re|'ve|'m|'ll|'d";
const std::string kGpt2 =
    kContractions + "| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const std::string kLlama3Tail =
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!"
    "\\S)|\\s+";
const std::string kLlama3 = "(?i:" + kContractions + ")" + kLlama3Tail;
// Qwen2 writes the same pattern with \p{N} single and the contractions case-insensitive.
const std::string kQwen2 = "(?i:" + kContractions +
                           ")|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                           "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum Class : std::uint8_t { kLetter, kNumber, kSpace, kOther };

struct CodePoint {
  char32_t c;
  std::uint32_t at;  // byte offset in the text
  Class cls;
};

Class class_of(char32_t c) {
  if (u_isUWhiteSpace(static_cast<UChar32>(c))) return kSpace;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return kNumber;
    default:
      return kOther;
  }
}

struct AsciiClasses {
  Class cls[128];
  AsciiClasses() {
    for (char32_t c = 0; c < 128; ++c) cls[c] = class_of(c);
  }
};

// Decodes UTF-8; a byte that does not start a valid sequence is a character of its own (its
// value + 0x110000, outside Unicode) of class kOther.
void decode(std::string_view s, std::vector<CodePoint>& out) {
  static const AsciiClasses ascii;
  out.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned b = p[i];
    const auto at = static_cast<std::uint32_t>(i);
    if (b < 0x80) {
      out.push_back({b, at, ascii.cls[b]});
      ++i;
      continue;
    }
    int len = b >= 0xF0 && b < 0xF5 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
    if (b >= 0xF5) len = 0;
    char32_t c = len == 2 ? b & 0x1F : len == 3 ? b & 0x0F : b & 0x07;
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    // Overlong 3/4-byte forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && ((len == 3 && (c < 0x800 || (c >= 0xD800 && c < 0xE000))) ||
               (len == 4 && (c < 0x10000 || c > 0x10FFFF))))
      ok = false;
    if (!ok) {
      out.push_back({0x110000 + b, at, kOther});
      ++i;
      continue;
    }
    out.push_back({c, at, class_of(c)});
    i += len;
  }
}

bool is_newline(char32_t c) { return c == '\r' || c == '\n'; }

// ASCII lower case, and U+017F LATIN SMALL LETTER LONG S, which case-folds to 's' (a
// case-insensitive regex matches "'ſ" as "'s").
char32_t fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x17F) return 's';
  return c;
}

class Splitter {
 public:
  Splitter(const std::vector<CodePoint>& cps, SplitPattern pattern) : cp_(cps), pattern_(pattern) {}

  // End (code point index) of the match at i; every position matches at least one character.
  std::size_t match(std::size_t i) const {
    const std::size_t n = cp_.size();
    if (const std::size_t end = contraction(i)) return end;
    const bool gpt2 = pattern_ == SplitPattern::kGpt2;
    // GPT-2 ` ?\p{L}+`; Llama-3 `[^\r\n\p{L}\p{N}]?\p{L}+`
    const bool lead =
        gpt2 ? cp_[i].c == ' '
             : (cp_[i].cls != kLetter && cp_[i].cls != kNumber && !is_newline(cp_[i].c));
    if (lead && is(i + 1, kLetter)) return run(i + 1, kLetter);
    if (cp_[i].cls == kLetter) return run(i, kLetter);
    // GPT-2 ` ?\p{N}+`; Llama-3 `\p{N}{1,3}`; Qwen2 `\p{N}`
    if (gpt2) {
      if (cp_[i].c == ' ' && is(i + 1, kNumber)) return run(i + 1, kNumber);
      if (cp_[i].cls == kNumber) return run(i, kNumber);
    } else if (cp_[i].cls == kNumber) {
      const std::size_t most = pattern_ == SplitPattern::kLlama3 ? 3 : 1;
      return std::min(run(i, kNumber), i + most);
    }
    // ` ?[^\s\p{L}\p{N}]+`, then Llama-3's `[\r\n]*`
    std::size_t other_end = 0;
    if (cp_[i].c == ' ' && is(i + 1, kOther))
      other_end = run(i + 1, kOther);
    else if (cp_[i].cls == kOther)
      other_end = run(i, kOther);
    if (other_end) {
      if (!gpt2)
        while (other_end < n && is_newline(cp_[other_end].c)) ++other_end;
      return other_end;
    }
    // Only whitespace is left here.
    const std::size_t j = run(i, kSpace);
    // Llama-3 `\s*[\r\n]+`: \s* gives back characters until a newline follows it, so the
    // match ends after the last newline of the whitespace run.
    if (!gpt2)
      for (std::size_t k = j; k > i; --k)
        if (is_newline(cp_[k - 1].c)) return k;
    // `\s+(?!\S)`: the whole run at the end of the text, else all but its last character
    // (which then starts the next match, e.g. " word").
    if (j == n) return j;
    if (j - 1 > i) return j - 1;
    return j;  // `\s+`
  }

 private:
  bool is(std::size_t i, Class cls) const { return i < cp_.size() && cp_[i].cls == cls; }
  std::size_t run(std::size_t i, Class cls) const {
    while (i < cp_.size() && cp_[i].cls == cls) ++i;
    return i;
  }
  char32_t at(std::size_t i, bool fold_case) const {
    if (i >= cp_.size()) return 0;
    return fold_case ? fold(cp_[i].c) : cp_[i].c;
  }
  // `'s|'t|'re|'ve|'m|'ll|'d` (case-insensitive but for GPT-2): end, or 0 for no match.
  std::size_t contraction(std::size_t i) const {
    if (cp_[i].c != '\'') return 0;
    const bool f = pattern_ != SplitPattern::kGpt2;
    const char32_t a = at(i + 1, f), b = at(i + 2, f);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
  }

  const std::vector<CodePoint>& cp_;
  SplitPattern pattern_;
};

}  // namespace

std::optional<SplitPattern> split_pattern_of(const std::string& regex) {
  if (regex == kGpt2) return SplitPattern::kGpt2;
  if (regex == kLlama3) return SplitPattern::kLlama3;
  if (regex == kQwen2) return SplitPattern::kQwen2;
  return std::nullopt;
}

const std::string& split_pattern_regex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2:
      return kGpt2;
    case SplitPattern::kLlama3:
      return kLlama3;
    case SplitPattern::kQwen2:
      return kQwen2;
  }
  return kGpt2;
}

void split_pretokens(std::string_view text, SplitPattern pattern,
                     std::vector<std::string_view>& out) {
  thread_local std::vector<CodePoint> cps;
  decode(text, cps);
  const Splitter splitter(cps, pattern);
  for (std::size_t i = 0; i < cps.size();) {
    const std::size_t end = splitter.match(i);
    const std::size_t from = cps[i].at, to = end < cps.size() ? cps[end].at : text.size();
    out.push_back(text.substr(from, to - from));
    i = end;
  }
}

}  // namespace rlhf::detail
