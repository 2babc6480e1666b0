// Chat templates: the strings the families' Hugging Face Jinja templates render
// (docs/formats.md, "Chat templates"), or a model folder's own Jinja template
// (sdk/src/jinja/template.hpp).
#include "rlhf/toolkit/chat_template.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jinja/template.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf {

namespace {

const char* const kNames[] = {"zephyr",       "chatml",       "llama-2", "mistral",
                              "mistral-v0.2", "mistral-v0.3", "none"};

// Python's str.strip() on ASCII whitespace (what the Llama-2 template applies to contents).
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

void check_alternation(const std::vector<Message>& turns, const std::string& name) {
  for (std::size_t i = 0; i < turns.size(); ++i) {
    const bool user_expected = i % 2 == 0;
    if ((turns[i].role == "user") != user_expected ||
        (!user_expected && turns[i].role != "assistant"))
      throw Error("chat template '" + name +
                  "': conversation roles must alternate user/assistant/user/... (message " +
                  std::to_string(i) + " is '" + turns[i].role + "')");
  }
}

// The conversation without its leading system message (if any), checked to alternate.
struct Turns {
  std::vector<Message> turns;
  std::string system;
  bool has_system = false;
};

Turns split_system(const std::vector<Message>& messages, const std::string& name) {
  Turns t{messages, "", false};
  if (!t.turns.empty() && t.turns[0].role == "system") {
    t.system = t.turns[0].content;
    t.has_system = true;
    t.turns.erase(t.turns.begin());
  }
  check_alternation(t.turns, name);
  return t;
}

// The whole conversation of a named template, optionally followed by the generation prompt.
std::string render_named(const std::string& name, const std::vector<Message>& messages,
                         bool add_generation_prompt) {
  std::string out;
  if (name == "zephyr") {
    // {% for m %}<|role|>\n{content}</s>\n{% endfor %}<|assistant|>\n
    for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
    if (add_generation_prompt) out += "<|assistant|>\n";
  } else if (name == "chatml") {
    for (const auto& m : messages)
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
  } else if (name == "llama-2") {
    // The system message is folded into the first user turn; contents are strip()ped.
    const Turns t = split_system(messages, name);
    for (std::size_t i = 0; i < t.turns.size(); ++i) {
      std::string content = t.turns[i].content;
      if (i == 0 && t.has_system) content = "<<SYS>>\n" + t.system + "\n<</SYS>>\n\n" + content;
      if (t.turns[i].role == "user")
        out += "<s>[INST] " + strip(content) + " [/INST]";
      else
        out += " " + strip(content) + " </s>";
    }
  } else if (name == "mistral" || name == "mistral-v0.2" || name == "mistral-v0.3") {
    // No system role: a system message goes before a user message, separated by a blank line —
    // the first one (v0.1, v0.2) or the last one (v0.3). The spacing is each version's
    // (mistral_common's tokenizers V1 for v0.2, V3 for v0.3): v0.1 "[INST] u [/INST]a</s>",
    // v0.2 " [INST] u [/INST] a</s>", v0.3 "[INST] u[/INST] a</s>" with the answer stripped.
    const Turns t = split_system(messages, name);
    std::size_t system_turn = 0;
    if (name == "mistral-v0.3")
      for (std::size_t i = 0; i < t.turns.size(); ++i)
        if (t.turns[i].role == "user") system_turn = i;
    out += "<s>";
    for (std::size_t i = 0; i < t.turns.size(); ++i) {
      const std::string& c = t.turns[i].content;
      if (t.turns[i].role == "user") {
        const std::string content =
            i == system_turn && !t.system.empty() ? t.system + "\n\n" + c : c;
        out += name == "mistral"        ? "[INST] " + content + " [/INST]"
               : name == "mistral-v0.2" ? " [INST] " + content + " [/INST]"
                                        : "[INST] " + content + "[/INST]";
      } else {
        out += name == "mistral"        ? c + "</s>"
               : name == "mistral-v0.2" ? " " + c + "</s>"
                                        : " " + strip(c) + "</s>";
      }
    }
  } else {  // none
    for (const auto& m : messages) out += m.content;
  }
  return out;
}

// Tokenizes with the tokenizer's BOS rule, but never doubles a BOS the template wrote.
std::vector<std::int64_t> encode_text(const Tokenizer& tok, const std::string& text) {
  std::vector<std::int64_t> ids = tok.encode(text, false, false);
  if (tok.add_bos_token() && (ids.empty() || ids[0] != tok.bos_id()))
    ids.insert(ids.begin(), tok.bos_id());
  return ids;
}

}  // namespace

std::vector<std::string> ChatTemplate::names() { return {std::begin(kNames), std::end(kNames)}; }

ChatTemplate ChatTemplate::get(const std::string& name) {
  for (const char* n : kNames)
    if (name == n) return ChatTemplate(name);
  std::string known;
  for (const char* n : kNames) known += (known.empty() ? "" : ", ") + std::string(n);
  throw Error("unknown chat template '" + name + "' (known: " + known + ")");
}

std::string ChatTemplate::render(const std::vector<Message>& messages,
                                 bool add_generation_prompt) const {
  if (!jinja_) return render_named(name_, messages, add_generation_prompt);
  // What transformers' apply_chat_template passes: the messages, the flag, tools/documents
  // (None), and the special tokens.
  jinja::List list;
  for (const auto& m : messages)
    list.push_back(jinja::Value::of_dict(
        {{"role", jinja::Value::string(m.role)}, {"content", jinja::Value::string(m.content)}}));
  return jinja_->render({{"messages", jinja::Value::of_list(std::move(list))},
                         {"add_generation_prompt", jinja::Value::boolean(add_generation_prompt)},
                         {"tools", jinja::Value::none()},
                         {"documents", jinja::Value::none()},
                         {"bos_token", jinja::Value::string(bos_token_)},
                         {"eos_token", jinja::Value::string(eos_token_)}});
}

std::string ChatTemplate::render_prompt(const std::vector<Message>& messages) const {
  return render(messages, true);
}

std::string ChatTemplate::render_conversation(const std::vector<Message>& messages) const {
  return render(messages, false);
}

std::string ChatTemplate::render_completion(const Message& assistant) const {
  if (jinja_) {
    const std::vector<Message> prompt = {{"user", "x"}};
    const std::string before = render(prompt, true);
    const std::string all = render({prompt[0], assistant}, false);
    if (all.compare(0, before.size(), before) != 0)
      throw Error(jinja_->origin() +
                  ": the rendered prompt is not a prefix of the rendered conversation");
    return all.substr(before.size());
  }
  if (name_ == "zephyr") return assistant.content + "</s>\n";
  if (name_ == "chatml") return assistant.content + "<|im_end|>\n";
  if (name_ == "llama-2") return " " + strip(assistant.content) + " </s>";
  if (name_ == "mistral") return assistant.content + "</s>";
  if (name_ == "mistral-v0.2") return " " + assistant.content + "</s>";
  if (name_ == "mistral-v0.3") return " " + strip(assistant.content) + "</s>";
  return assistant.content;
}

// Each Jinja text is one line (whitespace between tags would be output) and mirrors render():
// transformers compiles it with trim_blocks and lstrip_blocks, and Jinja turns the '\n' escapes
// inside string literals into newlines. The llama-2 strip() names the characters our strip()
// removes (Python's bare strip() also removes Unicode spaces).
std::string ChatTemplate::jinja() const {
  if (jinja_) return jinja_text_;
  // The role check of llama-2 and mistral: user, assistant, user, ... (check_alternation).
  const std::string alternate =
      R"({% if message['role'] != ('user' if loop.index0 % 2 == 0 else 'assistant') %})"
      R"({{ raise_exception("chat template ')" +
      name_ + R"(': conversation roles must alternate user/assistant/user/...") }}{% endif %})";
  // A leading system message is taken out of the turns.
  static const std::string split_system =
      R"({% if messages and messages[0]['role'] == 'system' %})"
      R"({% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %})"
      R"({% set has_system = true %}{% else %}{% set loop_messages = messages %})"
      R"({% set system_message = '' %}{% set has_system = false %}{% endif %})";
  if (name_ == "zephyr")
    return R"({% for message in messages %})"
           R"({{ '<|' + message['role'] + '|>\n' + message['content'] + '</s>\n' }})"
           R"({% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %})";
  if (name_ == "chatml")
    return R"({% for message in messages %})"
           R"({{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }})"
           R"({% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";
  if (name_ == "llama-2")
    return split_system + R"({% for message in loop_messages %})" + alternate +
           R"({% if loop.first and has_system %})"
           R"({% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %})"
           R"({% else %}{% set content = message['content'] %}{% endif %})"
           R"({% if message['role'] == 'user' %})"
           R"({{ '<s>[INST] ' + content.strip(' \t\n\r\f\v') + ' [/INST]' }})"
           R"({% else %}{{ ' ' + content.strip(' \t\n\r\f\v') + ' </s>' }}{% endif %})"
           R"({% endfor %})";
  if (name_ == "mistral")
    return split_system + R"({{ '<s>' }}{% for message in loop_messages %})" + alternate +
           R"({% if message['role'] == 'user' %})"
           R"({% if loop.first and system_message != '' %})"
           R"({{ '[INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }})"
           R"({% else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %})"
           R"({% else %}{{ message['content'] + '</s>' }}{% endif %}{% endfor %})";
  if (name_ == "mistral-v0.2")
    return split_system + R"({{ '<s>' }}{% for message in loop_messages %})" + alternate +
           R"({% if message['role'] == 'user' %})"
           R"({% if loop.first and system_message != '' %})"
           R"({{ ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }})"
           R"({% else %}{{ ' [INST] ' + message['content'] + ' [/INST]' }}{% endif %})"
           R"({% else %}{{ ' ' + message['content'] + '</s>' }}{% endif %}{% endfor %})";
  if (name_ == "mistral-v0.3")
    return split_system +
           R"({% set ns = namespace(last_user=-1) %}{% for message in loop_messages %})"
           R"({% if message['role'] == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %})"
           R"({% endfor %}{{ '<s>' }}{% for message in loop_messages %})" +
           alternate +
           R"({% if message['role'] == 'user' %})"
           R"({% if loop.index0 == ns.last_user and system_message != '' %})"
           R"({{ '[INST] ' + system_message + '\n\n' + message['content'] + '[/INST]' }})"
           R"({% else %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% endif %})"
           R"({% else %}{{ ' ' + message['content'].strip(' \t\n\r\f\v') + '</s>' }}{% endif %})"
           R"({% endfor %})";
  return R"({% for message in messages %}{{ message['content'] }}{% endfor %})";
}

ChatTemplate ChatTemplate::from_jinja_text(const std::string& text, const std::string& origin,
                                           const std::string& bos_token,
                                           const std::string& eos_token) {
  ChatTemplate t("auto");
  t.jinja_ = std::make_shared<const jinja::Template>(text, origin);
  t.jinja_text_ = text;
  t.bos_token_ = bos_token;
  t.eos_token_ = eos_token;
  return t;
}

namespace {

// tokenizer_config.json's "bos_token"/"eos_token": a string or an AddedToken object.
std::string token_string(const nlohmann::json& config, const char* key, const char* fallback) {
  if (!config.is_object() || !config.contains(key)) return fallback;
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return fallback;
}

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return nlohmann::json();
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(file.string() + ": not valid JSON");
  return j;
}

}  // namespace

std::optional<std::string> ChatTemplate::folder_template(const std::filesystem::path& dir) {
  const nlohmann::json config = read_json(dir / "tokenizer_config.json");
  if (config.is_object() && config.contains("chat_template")) {
    const auto& t = config["chat_template"];
    if (t.is_string()) return t.get<std::string>();
    // Several named templates ([{"name": "default", "template": "..."}, ...]): the default.
    if (t.is_array())
      for (const auto& entry : t)
        if (entry.is_object() && entry.value("name", "") == "default" &&
            entry.contains("template") && entry["template"].is_string())
          return entry["template"].get<std::string>();
  }
  std::ifstream in(dir / "chat_template.jinja");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ChatTemplate ChatTemplate::for_model(const std::string& name, const std::filesystem::path& dir) {
  if (name != "auto") {
    ChatTemplate named = get(name);
    if (name == "none" && !dir.empty() && folder_template(dir))
      spdlog::warn(
          "chat_template = \"none\" on {}, whose chat model has its own chat template: "
          "prompts are trained as raw text (chat_template = \"auto\" uses the model's)",
          dir.string());
    return named;
  }
  const std::optional<std::string> text = dir.empty() ? std::nullopt : folder_template(dir);
  if (!text) return get("none");
  if (auto known = from_jinja(*text)) return *known;
  const nlohmann::json config = read_json(dir / "tokenizer_config.json");
  const bool in_config = config.is_object() && config.contains("chat_template");
  const std::string origin =
      "chat template in " +
      (dir / (in_config ? "tokenizer_config.json" : "chat_template.jinja")).string();
  // The special tokens as transformers passes them: tokenizer_config.json's, else
  // special_tokens_map.json's.
  const nlohmann::json map = read_json(dir / "special_tokens_map.json");
  return from_jinja_text(
      *text, origin,
      token_string(config, "bos_token", token_string(map, "bos_token", "<s>").c_str()),
      token_string(config, "eos_token", token_string(map, "eos_token", "</s>").c_str()));
}

std::optional<ChatTemplate> ChatTemplate::from_jinja(const std::string& text) {
  for (const char* n : kNames)
    if (ChatTemplate(n).jinja() == text) return ChatTemplate(n);
  return std::nullopt;
}

std::string ChatTemplate::end_of_turn() const {
  if (jinja_) {
    // What the template writes after an assistant message's content, without whitespace: the
    // end-of-turn token ("<|im_end|>", "<|eot_id|>", the EOS). Empty when it writes nothing or
    // the template refuses the probe conversation.
    const std::string marker = "rlhf-host-end-of-turn-probe";
    std::string tail;
    try {
      tail = render_completion({"assistant", marker});
    } catch (const Error&) {
      return "";
    }
    const auto at = tail.find(marker);
    if (at == std::string::npos) return "";
    tail = strip(tail.substr(at + marker.size()));
    return tail.find_first_of(" \t\n") == std::string::npos ? tail : "";
  }
  if (name_ == "chatml") return "<|im_end|>";
  if (name_ == "none") return "";
  return "</s>";
}

PromptCompletionIds ChatTemplate::encode(const Tokenizer& tokenizer,
                                         const std::vector<Message>& prompt,
                                         const std::vector<Message>& completion) const {
  const std::string prompt_text = render_prompt(prompt);
  PromptCompletionIds out;
  if (completion.empty()) {
    out.prompt = encode_text(tokenizer, prompt_text);
    return out;
  }
  if (name_ != "none" && completion[0].role != "assistant")
    throw Error("chat template '" + name_ +
                "': the completion must start with an assistant "
                "message (got '" +
                completion[0].role + "')");
  std::vector<Message> all = prompt;
  all.insert(all.end(), completion.begin(), completion.end());
  const std::string full_text = render(all, false);
  if (full_text.compare(0, prompt_text.size(), prompt_text) != 0)
    throw Error((jinja_ ? jinja_->origin() : "chat template '" + name_ + "'") +
                ": the rendered prompt is not a prefix of the "
                "rendered conversation (roles out of order?)");

  const std::vector<std::int64_t> full = encode_text(tokenizer, full_text);
  const std::vector<std::int64_t> prompt_ids = encode_text(tokenizer, prompt_text);
  // The split is where the prompt's own tokenization stops agreeing with the whole text's; if
  // a token straddles the boundary it counts as completion.
  const auto k = static_cast<std::size_t>(
      std::mismatch(prompt_ids.begin(), prompt_ids.end(), full.begin(), full.end()).first -
      prompt_ids.begin());
  out.prompt.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(k));
  out.completion.assign(full.begin() + static_cast<std::ptrdiff_t>(k), full.end());
  // Raw text has no end-of-turn marker: like TRL, the completion ends with EOS. Decided on the
  // completion's own ids: an EOS the prompt wrote ("...</s>" before an empty completion) is not
  // the completion's, which would otherwise have no ids to train on (found by fuzz/).
  if (name_ == "none" && (out.completion.empty() || out.completion.back() != tokenizer.eos_id()))
    out.completion.push_back(tokenizer.eos_id());
  return out;
}

}  // namespace rlhf
