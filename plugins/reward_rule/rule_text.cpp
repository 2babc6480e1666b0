#include "rule_text.hpp"

namespace rlhf::rule {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string normalised(const std::string& text, const Normalisation& how) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  std::string out;
  out.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    const char c = text[i];
    if (how.collapse_whitespace && is_space(c)) {
      if (!is_space(text[i - 1])) out += ' ';  // i > begin: the text starts with no space
      continue;
    }
    out += how.ignore_case ? ascii_lower(c) : c;
  }
  return out;
}

std::size_t utf8_length(const std::string& text) {
  std::size_t n = 0;
  for (const char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace rlhf::rule
