// Text helpers of the `rule` reward model: the normalisation a rule applies before comparing a
// completion (or a regex capture) with an example's field, and the character count of the
// length rule.
#pragma once

#include <cstddef>
#include <string>

namespace rlhf::rule {

struct Normalisation {
  bool ignore_case = false;          // ASCII letters compare case-insensitively
  bool collapse_whitespace = false;  // runs of whitespace inside the text count as one space
};

// `text` without leading and trailing whitespace (space, \t, \n, \r, \f, \v), then normalised.
std::string normalised(const std::string& text, const Normalisation& how);

// The number of characters (Unicode code points) of UTF-8 `text`: bytes that do not continue a
// multi-byte sequence. Invalid UTF-8 counts each stray continuation byte as nothing.
std::size_t utf8_length(const std::string& text);

}  // namespace rlhf::rule
