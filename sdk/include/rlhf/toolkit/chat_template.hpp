// Chat templates by name: "zephyr", "chatml", "llama-2", "mistral", "none" — each producing
// exactly what the family's Hugging Face Jinja template renders
// (docs/formats.md, "Chat templates") — or the model folder's own Jinja template ("auto",
// rendered by sdk/src/jinja/template.hpp), and the exact prompt/completion split so prompt
// tokens can be masked from losses.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rlhf/example.hpp"

namespace rlhf {

class Tokenizer;
namespace jinja {
class Template;
}

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

  // [model].chat_template for the model folder `model_dir`:
  //  - "auto": the folder's own template (tokenizer_config.json's "chat_template", else
  //    chat_template.jinja); one of the named templates' jinja() is that template, any other text
  //    is rendered as Jinja (name() "auto"); a folder without one → "none".
  //  - a name: that template; "none" on a folder that has a chat template logs a warning.
  // A template the Jinja subset cannot run is an rlhf::Error naming the file, the construct and
  // the template's line.
  static ChatTemplate for_model(const std::string& name, const std::filesystem::path& model_dir);
  // A Jinja template (Hugging Face's chat_template text). `origin` starts its error messages;
  // bos_token/eos_token are the variables the template sees.
  static ChatTemplate from_jinja_text(const std::string& text, const std::string& origin,
                                      const std::string& bos_token, const std::string& eos_token);
  // The model folder's chat template text (see for_model), or nothing.
  static std::optional<std::string> folder_template(const std::filesystem::path& model_dir);

  const std::string& name() const { return name_; }
  // True for a template rendered from Jinja text (from_jinja_text, "auto").
  bool is_jinja() const { return jinja_ != nullptr; }

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
  // For a Jinja template: what follows the prompt of a one-user-message conversation.
  std::string render_completion(const Message& assistant) const;
  // The whole conversation without a generation prompt (what the completion tokens come from).
  std::string render_conversation(const std::vector<Message>& messages) const;

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
  std::string render(const std::vector<Message>& messages, bool add_generation_prompt) const;
  std::string name_;
  // A Jinja template ("auto"): the parsed text and the special tokens it is rendered with.
  std::shared_ptr<const jinja::Template> jinja_;
  std::string jinja_text_, bos_token_, eos_token_;
};

}  // namespace rlhf
