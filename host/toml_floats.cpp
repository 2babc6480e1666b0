#include "toml_floats.hpp"

#include <cctype>
#include <charconv>
#include <cstring>

namespace rlhf::host {
namespace {

bool is_float_char(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || std::strchr("+-.eE_", c) != nullptr;
}

// `token` in shortest round-trip form if it is a plain decimal float; unchanged otherwise
// (integers, dates, `+`-signed or `_`-separated numbers, which from_chars does not take whole).
std::string shortest_float(const std::string& token) {
  if (token.find_first_of(".eE") == std::string::npos) return token;
  double value = 0;
  const char* end = token.data() + token.size();
  auto parsed = std::from_chars(token.data(), end, value);
  if (parsed.ec != std::errc() || parsed.ptr != end) return token;
  char buf[64];
  auto printed = std::to_chars(buf, buf + sizeof(buf), value);
  if (printed.ec != std::errc()) return token;
  std::string shortest(buf, printed.ptr);
  if (shortest.find_first_of(".e") == std::string::npos) shortest += ".0";  // stay a float
  return shortest.size() < token.size() ? shortest : token;
}

}  // namespace

std::string shortest_toml_floats(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  const std::size_t n = text.size();
  char prev = '\n';  // the last non-blank character outside strings
  std::size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '\'' || c == '"') {  // a string, copied as is ('…', "…", '''…''', """…""")
      const std::string delim(text.compare(i, 3, std::string(3, c)) == 0 ? 3 : 1, c);
      std::size_t j = i + delim.size();
      while (j < n && text.compare(j, delim.size(), delim) != 0)
        j += (c == '"' && text[j] == '\\') ? 2 : 1;
      j = std::min(n, j + delim.size());
      out.append(text, i, j - i);
      i = j;
      prev = c;
      continue;
    }
    if (c == '#') {  // a comment, to the end of its line
      const std::size_t j = std::min(n, text.find('\n', i));
      out.append(text, i, j - i);
      i = j;
      continue;
    }
    const bool value_start = prev == '=' || prev == '[' || prev == ',' || prev == '{';
    if (value_start && (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+')) {
      std::size_t j = i;
      while (j < n && is_float_char(text[j])) ++j;
      out += shortest_float(text.substr(i, j - i));
      prev = text[j - 1];
      i = j;
      continue;
    }
    out += c;
    if (!std::isspace(static_cast<unsigned char>(c))) prev = c;
    ++i;
  }
  return out;
}

}  // namespace rlhf::host
