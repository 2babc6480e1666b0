// The prompts of `rlhf-host generate --data FILE`: the records of a JSONL file as the `jsonl`
// data plugin reads them, so every layout a pipeline accepts works here — a `prompt` string or
// message list (alone, or with completion / chosen / rejected), or `messages` up to the last
// assistant turn. A record without a prompt (`text` only) is an error naming file:line.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/example.hpp"

namespace rlhf::host {

struct GenerationPrompt {
  std::vector<rlhf::Message> messages;
  bool conversational = false;  // the file gave a message list, not a string
  std::string source;           // "file:line"
};

// Reads `file` with the `jsonl` plugin found on the plugin search path (plugin_path.hpp).
std::vector<GenerationPrompt> read_prompt_file(const std::filesystem::path& file);

// The prompt as the file gave it: the string, or the list of {role, content} messages.
nlohmann::ordered_json prompt_json(const GenerationPrompt& prompt);

}  // namespace rlhf::host
