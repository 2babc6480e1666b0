// The split regexes of byte-level BPE tokenizers (tokenizer.json `Split` / `ByteLevel`
// pre-tokenizers), hand-written over code points: Debian has no regex engine with \p{L}/\p{N}
// that matches Oniguruma's (what Hugging Face `tokenizers` uses) and std::regex has no Unicode
// classes. Character classes come from ICU (u_charType, u_isUWhiteSpace).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rlhf::detail {

enum class SplitPattern {
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,  // (?i:'s|…)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|…
  kQwen2,   // Llama-3's with \p{N} one digit at a time
};

// The pattern a tokenizer.json regex string is, or nothing when it is none of the three.
std::optional<SplitPattern> split_pattern_of(const std::string& regex);
// The tokenizer.json regex string of a pattern (what split_pattern_of recognises).
const std::string& split_pattern_regex(SplitPattern pattern);

// Appends the pieces of `text` (UTF-8; an invalid byte is one character of its own, neither
// letter, number nor space) as the regex finds them, with the text between matches (none for
// these patterns: every character is in some alternative) kept as pieces too ("Isolated").
void split_pretokens(std::string_view text, SplitPattern pattern,
                     std::vector<std::string_view>& out);

}  // namespace rlhf::detail
