// One line of a JSONL dataset → rlhf::Example, for every format TRL reads
// (docs/algorithms.md, "Data formats"):
//
//   preference, standard        {"prompt": str, "chosen": str, "rejected": str}
//   preference, conversational  {"prompt": [msgs], "chosen": [msgs], "rejected": [msgs]}
//   preference, implicit prompt {"chosen": [msgs], "rejected": [msgs]}: both share every
//                               message but the last, which must be the assistant's
//   SFT                         {"prompt": str|[msgs], "completion": str|[msgs]},
//                               {"messages": [msgs]} (the last assistant turn is the
//                               completion, everything before it the prompt), or {"text": str}
//   prompts (PPO)               {"prompt": str|[msgs]}
//
// msgs = [{"role": "system"|"user"|"assistant", "content": str}, …]. A numeric "margin" becomes
// Example::margin; other string/number/bool fields go to Example::fields.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/example.hpp"

namespace rlhf::jsonl {

// A record that cannot become an Example; `field` names the offending field ("chosen[1].role").
class RecordError : public Error {
 public:
  RecordError(std::string field, const std::string& message)
      : Error(field.empty() ? message : "field '" + field + "': " + message),
        field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// Parses one line (already JSON-decoded). Throws RecordError.
Example parse_record(const nlohmann::json& record);

}  // namespace rlhf::jsonl
