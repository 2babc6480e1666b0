// One rule of the `rule` reward model (README.md and docs/algorithms.md, "Rule rewards"): one
// table of the model's `rules` array. A rule gives each (example, completion) pair a value r;
// the model's reward is the sum over its rules of weight · r.
//
//   exact   r = 1 when the completion equals the example's `field` (both trimmed), else 0
//   regex   without `field`: r = 1 when `pattern` matches somewhere in the completion, else 0;
//           with `field`: r = 1 when the first match's first capture group (the whole match
//           when the pattern has no group) equals the field (both trimmed), else 0
//   length  r = the completion's characters beyond `target` (both sides with two_sided)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>

#include "rlhf/config.hpp"
#include "rlhf/example.hpp"
#include "rule_text.hpp"

namespace rlhf::rule {

// A regex rule searches completions of at most this many bytes; a longer one is an error, not a
// crash (std::regex backtracks recursively, see RuleRewardModel::score).
inline constexpr std::size_t kMaxRegexInputBytes = 65536;

class Rule {
 public:
  enum class Kind { exact, regex, length };

  // Reads the rule's keys from `table` (one element of `rules`); a bad value, an invalid
  // pattern or a key of another kind is a ConfigError naming the key.
  explicit Rule(const Config& table);

  Kind kind() const { return kind_; }
  double weight() const { return weight_; }

  // The rule's value r for one pair. `where` names the example in errors ("file:line"): a
  // missing field or an over-long completion for a regex is an rlhf::Error.
  double value(const Example& example, const std::string& completion,
               const std::string& where) const;
  // Throws value()'s missing-field error when the rule compares with a field `example` lacks.
  void check_fields(const Example& example, const std::string& where) const;

 private:
  const std::string& field_value(const Example& example, const std::string& where) const;
  double regex_value(const Example& example, const std::string& completion,
                     const std::string& where) const;

  std::string key_path_;  // "stage.ppo.reward_model.rules[0]", for messages
  Kind kind_ = Kind::exact;
  double weight_ = 1.0;
  std::optional<std::string> field_;
  Normalisation normalisation_;
  std::regex pattern_;
  bool has_group_ = false;
  std::int64_t target_ = 0;
  bool two_sided_ = false;
};

}  // namespace rlhf::rule
