// Template text to segments and tokens (sdk/src/jinja/lexer.hpp).
#include "lexer.hpp"

#include <algorithm>
#include <cctype>

#include "rlhf/error.hpp"

namespace rlhf::jinja {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int line_at(const std::string& s, std::size_t pos) {
  return 1 + static_cast<int>(
                 std::count(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}

// Where the tag's closer starts, skipping string literals and, as Jinja2's lexer does, brackets
// ("{{ {'a': {}} }}" closes at the last "}}").
std::size_t find_close(const std::string& s, std::size_t from, const char* closer, bool code) {
  char quote = 0;
  int depth = 0;
  for (std::size_t k = from; k + 1 < s.size(); ++k) {
    const char c = s[k];
    if (quote) {
      if (c == '\\')
        ++k;
      else if (c == quote)
        quote = 0;
    } else if (code && (c == '\'' || c == '"')) {
      quote = c;
    } else if (depth == 0 && c == closer[0] && s[k + 1] == closer[1]) {
      return k;
    } else if (code && (c == '(' || c == '[' || c == '{')) {
      ++depth;
    } else if (code && depth > 0 && (c == ')' || c == ']' || c == '}')) {
      --depth;
    }
  }
  return std::string::npos;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::vector<Segment> split_template(const std::string& source, const std::string& origin) {
  // Jinja2 writes every newline as "\n" and drops one newline at the template's end
  // (keep_trailing_newline is off).
  std::string src;
  for (std::size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
      src += '\n';
    } else {
      src += source[k];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  std::vector<Segment> out;
  std::size_t pos = 0;
  bool strip_next = false;  // the previous tag ended with "-"
  while (pos <= src.size()) {
    std::size_t open = pos;
    while ((open = src.find('{', open)) != std::string::npos && open + 1 < src.size() &&
           src[open + 1] != '{' && src[open + 1] != '%' && src[open + 1] != '#')
      ++open;
    if (open + 1 >= src.size()) open = std::string::npos;
    std::string text = src.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (strip_next) {
      std::size_t k = 0;
      while (k < text.size() && is_space(text[k])) ++k;
      text.erase(0, k);
    }
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({Segment::Kind::text, text, line_at(src, pos)});
      break;
    }
    const char kind_char = src[open + 1];
    const char modifier = open + 2 < src.size() ? src[open + 2] : 0;
    if (modifier == '-') {
      while (!text.empty() && is_space(text.back())) text.pop_back();
    } else if (kind_char != '{' && modifier != '+') {
      // lstrip_blocks: a block or comment tag alone after a line's indentation takes it away.
      const std::size_t nl = text.find_last_of('\n');
      const std::size_t from = nl == std::string::npos ? 0 : nl + 1;
      const bool line_start = nl != std::string::npos || pos == 0 || src[pos - 1] == '\n';
      if (line_start && text.find_first_not_of(" \t", from) == std::string::npos) text.erase(from);
    }
    if (!text.empty()) out.push_back({Segment::Kind::text, text, line_at(src, pos)});

    const char* closer = kind_char == '{' ? "}}" : kind_char == '%' ? "%}" : "#}";
    const std::size_t inner = open + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
    const std::size_t close = find_close(src, inner, closer, kind_char != '#');
    const int line = line_at(src, open);
    if (close == std::string::npos)
      throw Error(origin + " line " + std::to_string(line) + ": tag '{" +
                  std::string(1, kind_char) + "' is never closed with '" + closer + "'");
    std::size_t inner_end = close;
    strip_next = close > inner && src[close - 1] == '-';
    if (strip_next) --inner_end;
    if (kind_char == '{')
      out.push_back({Segment::Kind::expression, src.substr(inner, inner_end - inner), line});
    else if (kind_char == '%')
      out.push_back({Segment::Kind::statement, src.substr(inner, inner_end - inner), line});
    pos = close + 2;
    // trim_blocks: the newline after a block or comment tag goes.
    if (kind_char != '{' && !strip_next && pos < src.size() && src[pos] == '\n') ++pos;
  }
  return out;
}

std::vector<Token> tokenize(const Segment& tag, const std::string& origin) {
  const std::string& s = tag.text;
  std::vector<Token> out;
  int line = tag.line;
  std::size_t k = 0;
  auto fail = [&](const std::string& what) {
    throw Error(origin + " line " + std::to_string(line) + ": " + what);
  };
  while (k < s.size()) {
    const char c = s[k];
    if (is_space(c)) {
      if (c == '\n') ++line;
      ++k;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t e = k;
      while (e < s.size() && (std::isalnum(static_cast<unsigned char>(s[e])) || s[e] == '_')) ++e;
      out.push_back({Token::Kind::name, s.substr(k, e - k), 0, 0, line});
      k = e;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t e = k;
      while (e < s.size() && (std::isdigit(static_cast<unsigned char>(s[e])) || s[e] == '_')) ++e;
      auto digit = [&](std::size_t at) {
        return at < s.size() && std::isdigit(static_cast<unsigned char>(s[at]));
      };
      bool is_float = false;
      if (e + 1 < s.size() && s[e] == '.' && digit(e + 1)) {
        is_float = true;
        for (++e; digit(e);) ++e;
      }
      if (e < s.size() && (s[e] == 'e' || s[e] == 'E')) {
        const std::size_t sign = e + 1 < s.size() && (s[e + 1] == '+' || s[e + 1] == '-') ? 1 : 0;
        if (digit(e + 1 + sign)) {
          is_float = true;
          for (e += 1 + sign; digit(e);) ++e;
        }
      }
      std::string digits = s.substr(k, e - k);
      digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
      Token t{is_float ? Token::Kind::floating : Token::Kind::integer, digits, 0, 0, line};
      if (is_float)
        t.floating = std::stod(digits);
      else
        t.integer = std::stoll(digits);
      out.push_back(t);
      k = e;
    } else if (c == '\'' || c == '"') {
      std::string value;
      std::size_t e = k + 1;
      for (; e < s.size() && s[e] != c; ++e) {
        if (s[e] == '\n') ++line;
        if (s[e] != '\\' || e + 1 >= s.size()) {
          value += s[e];
          continue;
        }
        const char x = s[++e];
        switch (x) {
          case 'n':
            value += '\n';
            break;
          case 't':
            value += '\t';
            break;
          case 'r':
            value += '\r';
            break;
          case '0':
            value += '\0';
            break;
          case '\\':
          case '\'':
          case '"':
            value += x;
            break;
          case '\n':
            break;
          case 'u':
          case 'x': {
            const std::size_t n = x == 'u' ? 4 : 2;
            if (e + n >= s.size()) fail("bad escape in a string literal");
            append_utf8(value, static_cast<unsigned>(std::stoul(s.substr(e + 1, n), nullptr, 16)));
            e += n;
            break;
          }
          default:
            value += '\\';
            value += x;
        }
      }
      if (e >= s.size()) fail("a string literal is never closed");
      out.push_back({Token::Kind::string, value, 0, 0, line});
      k = e + 1;
    } else {
      static const char* const ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                        "/",  "%",  "<",  ">",  "(",  ")",  "[", "]", "{",
                                        "}",  ",",  ".",  ":",  "|",  "~",  "="};
      bool found = false;
      for (const char* op : ops) {
        const std::string o = op;
        if (s.compare(k, o.size(), o) == 0) {
          out.push_back({Token::Kind::op, o, 0, 0, line});
          k += o.size();
          found = true;
          break;
        }
      }
      if (!found) fail(std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Token::Kind::end, "", 0, 0, line});
  return out;
}

}  // namespace rlhf::jinja
