// One line of a JSONL dataset → rlhf::Example, for every layout TRL reads and the ones people
// have (docs/algorithms.md, "Data formats"; one example line each in docs/data-formats.md):
//
//   preference, standard        {"prompt": str, "chosen": str, "rejected": str}
//   preference, conversational  {"prompt": [msgs], "chosen": [msgs], "rejected": [msgs]}
//   preference, implicit prompt {"chosen": [msgs], "rejected": [msgs]}: both share every
//                               message but the last, which must be the assistant's
//   preference, UltraFeedback   {"prompt": str, "chosen": [msgs], "rejected": [msgs]}: whole
//                               conversations as in the implicit-prompt layout whose first
//                               message is the user turn `prompt` (same role "user", same
//                               content, byte for byte; else an error naming chosen[0] or
//                               rejected[0]). The Example is the implicit-prompt one: the shared
//                               prefix is the prompt. Its other fields (prompt_id, score_chosen,
//                               score_rejected) are extra fields; `messages` is not read.
//   SFT                         {"prompt": str|[msgs], "completion": str|[msgs]},
//                               {"messages": [msgs]} (the last assistant turn is the
//                               completion, everything before it the prompt), or {"text": str}
//   KTO, unpaired               {"prompt": str|[msgs], "completion": str|[msgs], "label": bool}
//   prompts (PPO)               {"prompt": str|[msgs]}
//
// msgs = [{"role": "system"|"user"|"assistant", "content": str}, …]. A numeric "margin" becomes
// Example::margin, a boolean "label" Example::label (any other type is an error); other
// string/number/bool fields go to Example::fields (numbers and bools as JSON writes them), and
// other lists/objects are ignored. Field names are those of `Columns` (jsonl_columns.hpp).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "jsonl_columns.hpp"
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

// Parses one line (already JSON-decoded). The record's strings are moved into the Example, so
// `record` is left valid but unspecified. Throws RecordError.
Example parse_record(nlohmann::json& record, const Columns& columns = {});

}  // namespace rlhf::jsonl
