// rlhf::Example — one record of a dataset, in the shape every algorithm consumes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rlhf {

struct Message {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
  bool operator==(const Message& o) const { return role == o.role && content == o.content; }
};

// A record normalised from any supported data format (algorithms.md, "Data formats").
// Standard-format strings become single messages: a prompt string is one "user" message, a
// chosen/rejected/completion string one "assistant" message; `conversational` says which form
// the source used (the "none" chat template concatenates contents as they are).
struct Example {
  std::vector<Message> prompt;                // context; may be empty (text-only SFT)
  std::vector<Message> chosen;                // preferred completion (preference data)
  std::vector<Message> rejected;              // dispreferred completion (preference data)
  std::vector<Message> completion;            // SFT target (prompt+completion or messages formats)
  std::optional<std::string> text;            // SFT raw text: train on every token
  std::optional<double> margin;               // reward-model margin m (optional field)
  std::optional<bool> label;                  // KTO: desirable (true) or not; jsonl "label"
  std::map<std::string, std::string> fields;  // other scalar fields, e.g. "answer" for rule rewards
  bool conversational = false;
  std::string source;  // "file:line" for messages
};

}  // namespace rlhf
