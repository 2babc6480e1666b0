// Chat templates by name: "zephyr", "chatml", "llama-2", "mistral", "none" — each producing
// exactly what the family's Hugging Face Jinja template renders
// (docs/formats.md, "Chat templates"), and the exact prompt/completion split so prompt tokens
// can be masked from losses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rlhf/example.hpp"

namespace rlhf {

class Tokenizer;

// Token ids of one (prompt, completion) pair. `prompt` ends with the generation prompt
// (e.g. "<|assistant|>\n"); `completion` is the assistant message with its end-of-turn token.
struct PromptCompletionIds {
  std::vector<std::int64_t> prompt;
  std::vector<std::int64_t> completion;
};

class ChatTemplate {
 public:
  // Known names; unknown → rlhf::Error listing them.
  static ChatTemplate get(const std::string& name);
  static std::vector<std::string> names();

  const std::string& name() const { return name_; }

  // The Hugging Face Jinja text of this template (tokenizer_config.json's "chat_template"):
  // rendered by transformers' apply_chat_template it gives exactly render_prompt (with
  // add_generation_prompt) and the whole conversation (without). BOS/EOS are written as the
  // literal strings this renderer writes ("<s>", "</s>"), not the bos_token/eos_token variables.
  std::string jinja() const;
  // The template whose jinja() is `text` (a folder saved by rlhf-host); nothing for any other.
  static std::optional<ChatTemplate> from_jinja(const std::string& text);
  // The token string that ends an assistant turn ("</s>", "<|im_end|>"); empty for "none",
  // whose completions end with the tokenizer's EOS. Generation stops there too.
  std::string end_of_turn() const;

  // The rendered prompt text (all messages + generation prompt), with BOS/EOS written as the
  // tokenizer's special-token strings ("<s>", "</s>").
  std::string render_prompt(const std::vector<Message>& messages) const;
  // The rendered completion text (assistant content + end-of-turn) that follows render_prompt.
  std::string render_completion(const Message& assistant) const;

  // Tokenizes prompt and completion. The ids equal tokenizing the whole rendered conversation,
  // split where the generation prompt ends.
  //  - BOS: added when the tokenizer's add_bos_token says so, unless the template already wrote
  //    "<s>" (llama-2, mistral), so a row has exactly one.
  //  - A token straddling the boundary (the prompt's last token merging with the completion's
  //    first) counts as completion: `prompt` is the longest prefix on which the prompt's own
  //    tokenization and the whole conversation's agree.
  //  - `completion` may hold several messages (a multi-turn SFT target); it must start with an
  //    assistant message (except for "none"). Every token after the split counts as completion.
  //  - "none" has no end-of-turn marker, so EOS is appended to the completion (as TRL does).
  //  - An empty `completion` yields just the prompt ids (generation prompts).
  PromptCompletionIds encode(const Tokenizer& tokenizer, const std::vector<Message>& prompt,
                             const std::vector<Message>& completion) const;

 private:
  explicit ChatTemplate(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

}  // namespace rlhf
