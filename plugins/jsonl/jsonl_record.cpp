#include "jsonl_record.hpp"

namespace rlhf::jsonl {

namespace {

std::string type_name(const nlohmann::json& v) { return v.type_name(); }

std::vector<Message> parse_messages(const nlohmann::json& value, const std::string& field) {
  if (!value.is_array())
    throw RecordError(field,
                      "expected a list of {role, content} messages, got " + type_name(value));
  if (value.empty()) throw RecordError(field, "message list is empty");
  std::vector<Message> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto& m = value[i];
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!m.is_object())
      throw RecordError(at, "expected an object {role, content}, got " + type_name(m));
    if (!m.contains("role")) throw RecordError(at + ".role", "missing");
    if (!m.contains("content")) throw RecordError(at + ".content", "missing");
    if (!m["role"].is_string())
      throw RecordError(at + ".role", "expected a string, got " + type_name(m["role"]));
    if (!m["content"].is_string())
      throw RecordError(at + ".content", "expected a string, got " + type_name(m["content"]));
    std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant")
      throw RecordError(at + ".role", "\"" + role + "\" is not one of system, user, assistant");
    out.push_back({role, m["content"].get<std::string>()});
  }
  return out;
}

// A prompt: a string becomes one user message; a list is taken as it is.
std::vector<Message> parse_prompt(const nlohmann::json& value, bool& conversational) {
  if (value.is_string()) return {{"user", value.get<std::string>()}};
  conversational = true;
  return parse_messages(value, "prompt");
}

// A completion: a string becomes one assistant message; a list must be assistant messages.
std::vector<Message> parse_completion(const nlohmann::json& value, const std::string& field,
                                      bool conversational) {
  if (value.is_string()) {
    if (conversational)
      throw RecordError(field, "expected a list of messages like 'prompt', got a string");
    return {{"assistant", value.get<std::string>()}};
  }
  if (!conversational)
    throw RecordError(field, "expected a string like 'prompt', got " + type_name(value));
  auto msgs = parse_messages(value, field);
  for (std::size_t i = 0; i < msgs.size(); ++i)
    if (msgs[i].role != "assistant")
      throw RecordError(field + "[" + std::to_string(i) + "].role",
                        "a completion holds assistant messages only, got \"" + msgs[i].role + "\"");
  return msgs;
}

void require(const nlohmann::json& r, const char* field, const char* why) {
  if (!r.contains(field)) throw RecordError(field, std::string("missing (") + why + ")");
}

}  // namespace

Example parse_record(const nlohmann::json& r) {
  if (!r.is_object()) throw RecordError("", "expected a JSON object per line, got " + type_name(r));
  Example ex;
  static const char* kKnown[] = {"prompt",   "chosen", "rejected", "completion",
                                 "messages", "text",   "margin"};
  for (const auto& [key, value] : r.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) != std::end(kKnown)) continue;
    if (value.is_string())
      ex.fields[key] = value.get<std::string>();
    else if (value.is_number() || value.is_boolean())
      ex.fields[key] = value.dump();
  }
  if (r.contains("margin")) {
    if (!r["margin"].is_number())
      throw RecordError("margin", "expected a number, got " + type_name(r["margin"]));
    ex.margin = r["margin"].get<double>();
  }

  if (r.contains("chosen") || r.contains("rejected")) {
    require(r, "chosen", "preference records have chosen and rejected");
    require(r, "rejected", "preference records have chosen and rejected");
    if (r.contains("prompt")) {
      ex.prompt = parse_prompt(r["prompt"], ex.conversational);
      ex.chosen = parse_completion(r["chosen"], "chosen", ex.conversational);
      ex.rejected = parse_completion(r["rejected"], "rejected", ex.conversational);
      return ex;
    }
    // Implicit prompt: whole conversations that differ only in the final assistant turn.
    if (!r["chosen"].is_array())
      throw RecordError("prompt", "missing (needed when chosen/rejected are strings)");
    ex.conversational = true;
    auto chosen = parse_messages(r["chosen"], "chosen");
    auto rejected = parse_messages(r["rejected"], "rejected");
    if (chosen.back().role != "assistant")
      throw RecordError(
          "chosen[" + std::to_string(chosen.size() - 1) + "].role",
          "the last message of an implicit-prompt conversation must be the assistant's");
    if (rejected.back().role != "assistant")
      throw RecordError(
          "rejected[" + std::to_string(rejected.size() - 1) + "].role",
          "the last message of an implicit-prompt conversation must be the assistant's");
    std::vector<Message> chosen_prefix(chosen.begin(), chosen.end() - 1);
    std::vector<Message> rejected_prefix(rejected.begin(), rejected.end() - 1);
    if (chosen_prefix != rejected_prefix)
      throw RecordError(
          "rejected", "implicit prompt: chosen and rejected must share every message but the last");
    if (chosen_prefix.empty())
      throw RecordError(
          "chosen", "implicit prompt: the conversation has no prompt messages before the answer");
    ex.prompt = chosen_prefix;
    ex.chosen = {chosen.back()};
    ex.rejected = {rejected.back()};
    return ex;
  }
  if (r.contains("messages")) {
    ex.conversational = true;
    auto msgs = parse_messages(r["messages"], "messages");
    std::size_t last = msgs.size();
    while (last > 0 && msgs[last - 1].role != "assistant") --last;
    if (last == 0) throw RecordError("messages", "no assistant message to train on");
    ex.prompt.assign(msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(last - 1));
    ex.completion = {msgs[last - 1]};
    return ex;
  }
  if (r.contains("completion")) {
    require(r, "prompt", "prompt/completion records need both");
    ex.prompt = parse_prompt(r["prompt"], ex.conversational);
    ex.completion = parse_completion(r["completion"], "completion", ex.conversational);
    return ex;
  }
  if (r.contains("text")) {
    if (!r["text"].is_string())
      throw RecordError("text", "expected a string, got " + type_name(r["text"]));
    ex.text = r["text"].get<std::string>();
    return ex;
  }
  if (r.contains("prompt")) {
    ex.prompt = parse_prompt(r["prompt"], ex.conversational);
    return ex;
  }
  throw RecordError("",
                    "no known fields; expected prompt/chosen/rejected, chosen/rejected, "
                    "prompt/completion, messages, text or prompt");
}

}  // namespace rlhf::jsonl
