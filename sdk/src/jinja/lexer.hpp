// Splits a chat template into text and tags, and a tag into tokens, the way transformers'
// Jinja2 environment does (trim_blocks and lstrip_blocks on, "-" strips whitespace):
// sdk/src/jinja/parser.cpp reads what this produces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rlhf::jinja {

struct Segment {
  enum class Kind { text, expression, statement };  // text, {{ ... }}, {% ... %}
  Kind kind;
  std::string text;  // the text, or the tag's inside without its delimiters
  int line;          // the template's line the segment starts on (1-based)
};

struct Token {
  enum class Kind { name, integer, floating, string, op, end };
  Kind kind;
  std::string text;  // a name, an operator, or a string literal's value
  std::int64_t integer = 0;
  double floating = 0;
  int line;
};

// Comments are dropped. Throws rlhf::Error naming the line of an unclosed tag.
std::vector<Segment> split_template(const std::string& source, const std::string& origin);
// The tokens of one tag's inside, ending with an `end` token.
std::vector<Token> tokenize(const Segment& tag, const std::string& origin);

}  // namespace rlhf::jinja
