#include "rule.hpp"

#include <algorithm>
#include <cmath>

#include "rlhf/error.hpp"

namespace rlhf::rule {

namespace {

Rule::Kind parse_kind(const Config& table) {
  const auto kind = table.require<std::string>("kind");
  if (kind == "exact") return Rule::Kind::exact;
  if (kind == "regex") return Rule::Kind::regex;
  if (kind == "length") return Rule::Kind::length;
  table.fail("kind", "unknown rule kind \"" + kind + "\" (known: exact, regex, length)");
}

}  // namespace

Rule::Rule(const Config& table) : key_path_(table.key_path()), kind_(parse_kind(table)) {
  // A length rule's weight is its reward per character: no default (1.0 would reward length).
  weight_ =
      kind_ == Kind::length ? table.require<double>("weight") : table.get<double>("weight", 1.0);
  if (kind_ == Kind::length) {
    target_ = table.get<std::int64_t>("target", 0);
    if (target_ < 0) table.fail("target", "must be >= 0 (characters)");
    two_sided_ = table.get<bool>("two_sided", false);
    return;
  }
  field_ = kind_ == Kind::exact ? table.require<std::string>("field")
                                : table.get_optional<std::string>("field");
  if (field_ && field_->empty()) table.fail("field", "must name a field of the examples");
  normalisation_.ignore_case = table.get<bool>("ignore_case", false);
  if (field_)
    normalisation_.collapse_whitespace = table.get<bool>("collapse_whitespace", false);
  else if (table.has("collapse_whitespace"))
    table.fail("collapse_whitespace",
               "applies to the comparison with `field`, and this regex rule has no field");
  if (kind_ != Kind::regex) return;

  const auto pattern = table.require<std::string>("pattern");
  auto flags = std::regex::ECMAScript;
  if (normalisation_.ignore_case) flags |= std::regex::icase;
  try {
    pattern_ = std::regex(pattern, flags);
  } catch (const std::regex_error& e) {
    table.fail("pattern",
               "invalid regular expression (ECMAScript syntax): " + std::string(e.what()));
  }
  has_group_ = pattern_.mark_count() > 0;
}

const std::string& Rule::field_value(const Example& example, const std::string& where) const {
  const auto it = example.fields.find(*field_);
  if (it != example.fields.end()) return it->second;
  std::string present;
  for (const auto& [name, value] : example.fields) present += (present.empty() ? "" : ", ") + name;
  throw Error(where + ": the example has no field '" + *field_ + "', which '" + key_path_ +
              ".field' compares with (its fields: " + (present.empty() ? "none" : present) + ")");
}

void Rule::check_fields(const Example& example, const std::string& where) const {
  if (field_) field_value(example, where);
}

double Rule::regex_value(const Example& example, const std::string& completion,
                         const std::string& where) const {
  if (completion.size() > kMaxRegexInputBytes)
    throw Error(where + ": a completion of " + std::to_string(completion.size()) +
                " bytes is longer than the " + std::to_string(kMaxRegexInputBytes) +
                " bytes a regex rule searches ('" + key_path_ + ".pattern')");
  // The field is looked up first, so a missing field is an error whether or not the pattern
  // matches this completion.
  const std::string* expected = field_ ? &field_value(example, where) : nullptr;
  std::smatch match;
  bool found = false;
  try {
    found = std::regex_search(completion, match, pattern_);
  } catch (const std::regex_error& e) {
    throw Error(where + ": '" + key_path_ +
                ".pattern' could not search the completion: " + e.what());
  }
  if (!found) return 0.0;
  if (!expected) return 1.0;
  const std::string got = has_group_ ? match[1].str() : match[0].str();
  return normalised(got, normalisation_) == normalised(*expected, normalisation_) ? 1.0 : 0.0;
}

double Rule::value(const Example& example, const std::string& completion,
                   const std::string& where) const {
  switch (kind_) {
    case Kind::exact:
      return normalised(completion, normalisation_) ==
                     normalised(field_value(example, where), normalisation_)
                 ? 1.0
                 : 0.0;
    case Kind::regex:
      return regex_value(example, completion, where);
    case Kind::length: {
      const auto excess =
          static_cast<double>(utf8_length(completion)) - static_cast<double>(target_);
      return two_sided_ ? std::abs(excess) : std::max(0.0, excess);
    }
  }
  return 0.0;
}

}  // namespace rlhf::rule
