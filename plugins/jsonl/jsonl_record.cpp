#include "jsonl_record.hpp"

#include <algorithm>
#include <iterator>

namespace rlhf::jsonl {

namespace {

using nlohmann::json;

std::string type_name(const json& v) { return v.type_name(); }

// The record's field `name`, or null when absent (or when the role is not read: empty name).
json* find_field(json& record, const std::string& name) {
  if (name.empty()) return nullptr;
  auto it = record.find(name);
  return it == record.end() ? nullptr : &*it;
}

// How messages name a role's field: its name in the record, or the role when it is not read.
std::string shown(const std::string& name, const char* role) { return name.empty() ? role : name; }

std::string take_string(json& v) { return std::move(v.get_ref<std::string&>()); }

std::vector<Message> parse_messages(json& value, const std::string& field) {
  if (!value.is_array())
    throw RecordError(field,
                      "expected a list of {role, content} messages, got " + type_name(value));
  if (value.empty()) throw RecordError(field, "message list is empty");
  std::vector<Message> out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto& m = value[i];
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!m.is_object())
      throw RecordError(at, "expected an object {role, content}, got " + type_name(m));
    json* role = find_field(m, "role");
    json* content = find_field(m, "content");
    if (!role) throw RecordError(at + ".role", "missing");
    if (!content) throw RecordError(at + ".content", "missing");
    if (!role->is_string())
      throw RecordError(at + ".role", "expected a string, got " + type_name(*role));
    if (!content->is_string())
      throw RecordError(at + ".content", "expected a string, got " + type_name(*content));
    const auto& r = role->get_ref<const std::string&>();
    if (r != "system" && r != "user" && r != "assistant")
      throw RecordError(at + ".role", "\"" + r + "\" is not one of system, user, assistant");
    out.push_back({r, take_string(*content)});
  }
  return out;
}

// A prompt: a string becomes one user message; a list is taken as it is.
std::vector<Message> parse_prompt(json& value, const std::string& field, bool& conversational) {
  if (value.is_string()) return {{"user", take_string(value)}};
  conversational = true;
  return parse_messages(value, field);
}

// A completion: a string becomes one assistant message; a list must be assistant messages.
std::vector<Message> parse_completion(json& value, const std::string& field, bool conversational,
                                      const std::string& prompt_field) {
  if (value.is_string()) {
    if (conversational)
      throw RecordError(field,
                        "expected a list of messages like '" + prompt_field + "', got a string");
    return {{"assistant", take_string(value)}};
  }
  if (!conversational)
    throw RecordError(field,
                      "expected a string like '" + prompt_field + "', got " + type_name(value));
  auto msgs = parse_messages(value, field);
  for (std::size_t i = 0; i < msgs.size(); ++i)
    if (msgs[i].role != "assistant")
      throw RecordError(field + "[" + std::to_string(i) + "].role",
                        "a completion holds assistant messages only, got \"" + msgs[i].role + "\"");
  return msgs;
}

// Implicit prompt: whole conversations that differ only in the final assistant turn; the shared
// prefix becomes the prompt.
void split_conversations(std::vector<Message> chosen, std::vector<Message> rejected,
                         const std::string& chosen_field, const std::string& rejected_field,
                         Example& ex) {
  for (const auto* side : {&chosen, &rejected})
    if (side->back().role != "assistant")
      throw RecordError(
          (side == &chosen ? chosen_field : rejected_field) + "[" +
              std::to_string(side->size() - 1) + "].role",
          "the last message of an implicit-prompt conversation must be the assistant's");
  if (!std::equal(chosen.begin(), chosen.end() - 1, rejected.begin(), rejected.end() - 1))
    throw RecordError(rejected_field, "implicit prompt: " + chosen_field + " and " +
                                          rejected_field +
                                          " must share every message but the last");
  if (chosen.size() < 2)
    throw RecordError(chosen_field,
                      "implicit prompt: the conversation has no prompt messages before the answer");
  ex.conversational = true;
  ex.prompt.assign(std::make_move_iterator(chosen.begin()),
                   std::make_move_iterator(chosen.end() - 1));
  ex.chosen = {std::move(chosen.back())};
  ex.rejected = {std::move(rejected.back())};
}

// UltraFeedback-binarized: a string prompt and whole conversations that begin with it.
void check_begins_with_prompt(const std::vector<Message>& conversation, const std::string& field,
                              const std::string& prompt, const std::string& prompt_field) {
  const std::string layout = "with a string '" + prompt_field + "', '" + field +
                             "' is a whole conversation that begins with the prompt as its first "
                             "user turn (UltraFeedback layout)";
  if (conversation[0].role != "user")
    throw RecordError(field + "[0].role",
                      "expected \"user\", got \"" + conversation[0].role + "\": " + layout);
  if (conversation[0].content != prompt)
    throw RecordError(field + "[0].content", "differs from '" + prompt_field + "': " + layout);
}

}  // namespace

Example parse_record(json& r, const Columns& c) {
  if (!r.is_object()) throw RecordError("", "expected a JSON object per line, got " + type_name(r));
  for (const auto& [role, name] : c.mapped)
    if (!r.contains(name))
      throw RecordError(name, "missing (columns." + role + " = \"" + name + "\")");
  Example ex;
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (c.reads(it.key())) continue;
    json& value = it.value();
    if (value.is_string())
      ex.fields[it.key()] = take_string(value);
    else if (value.is_number() || value.is_boolean())
      ex.fields[it.key()] = value.dump();
  }
  if (json* margin = find_field(r, c.margin)) {
    if (!margin->is_number())
      throw RecordError(c.margin, "expected a number, got " + type_name(*margin));
    ex.margin = margin->get<double>();
  }
  if (json* label = find_field(r, c.label)) {
    if (!label->is_boolean())
      throw RecordError(c.label,
                        "expected true or false (desirable or not), got " + type_name(*label));
    ex.label = label->get<bool>();
  }

  json* prompt = find_field(r, c.prompt);
  json* chosen = find_field(r, c.chosen);
  json* rejected = find_field(r, c.rejected);
  const std::string prompt_name = shown(c.prompt, "prompt");
  if (chosen || rejected) {
    if (!chosen)
      throw RecordError(shown(c.chosen, "chosen"),
                        "missing (preference records have chosen and rejected)");
    if (!rejected)
      throw RecordError(shown(c.rejected, "rejected"),
                        "missing (preference records have chosen and rejected)");
    if (prompt && prompt->is_string() && (chosen->is_array() || rejected->is_array())) {
      auto chosen_msgs = parse_messages(*chosen, c.chosen);
      check_begins_with_prompt(chosen_msgs, c.chosen, prompt->get_ref<const std::string&>(),
                               prompt_name);
      auto rejected_msgs = parse_messages(*rejected, c.rejected);
      check_begins_with_prompt(rejected_msgs, c.rejected, prompt->get_ref<const std::string&>(),
                               prompt_name);
      split_conversations(std::move(chosen_msgs), std::move(rejected_msgs), c.chosen, c.rejected,
                          ex);
      return ex;
    }
    if (prompt) {
      ex.prompt = parse_prompt(*prompt, prompt_name, ex.conversational);
      ex.chosen = parse_completion(*chosen, c.chosen, ex.conversational, prompt_name);
      ex.rejected = parse_completion(*rejected, c.rejected, ex.conversational, prompt_name);
      return ex;
    }
    if (!chosen->is_array())
      throw RecordError(prompt_name, "missing (needed when chosen/rejected are strings)");
    split_conversations(parse_messages(*chosen, c.chosen), parse_messages(*rejected, c.rejected),
                        c.chosen, c.rejected, ex);
    return ex;
  }
  if (json* messages = find_field(r, c.messages)) {
    ex.conversational = true;
    auto msgs = parse_messages(*messages, c.messages);
    std::size_t last = msgs.size();
    while (last > 0 && msgs[last - 1].role != "assistant") --last;
    if (last == 0) throw RecordError(c.messages, "no assistant message to train on");
    ex.completion = {std::move(msgs[last - 1])};
    msgs.resize(last - 1);
    ex.prompt = std::move(msgs);
    return ex;
  }
  if (json* completion = find_field(r, c.completion)) {
    if (!prompt) throw RecordError(prompt_name, "missing (prompt/completion records need both)");
    ex.prompt = parse_prompt(*prompt, prompt_name, ex.conversational);
    ex.completion = parse_completion(*completion, c.completion, ex.conversational, prompt_name);
    return ex;
  }
  if (json* text = find_field(r, c.text)) {
    if (!text->is_string()) throw RecordError(c.text, "expected a string, got " + type_name(*text));
    ex.text = take_string(*text);
    return ex;
  }
  if (prompt) {
    ex.prompt = parse_prompt(*prompt, prompt_name, ex.conversational);
    return ex;
  }
  throw RecordError("",
                    "no known fields; expected prompt/chosen/rejected, chosen/rejected, "
                    "prompt/completion(/label), messages, text or prompt");
}

}  // namespace rlhf::jsonl
