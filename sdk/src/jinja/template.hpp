// A parsed Jinja chat template (the subset Hugging Face chat templates use: for/if/elif/else,
// set, namespace, loop variables, the filters, tests and methods of sdk/src/jinja/builtins.hpp),
// rendered the way transformers' apply_chat_template renders it (trim_blocks, lstrip_blocks).
// Used by sdk/src/chat_template.cpp.
#pragma once

#include <string>

#include "ast.hpp"

namespace rlhf::jinja {

class Template {
 public:
  // Parses `source`; an unsupported construct or a syntax error is an rlhf::Error starting with
  // `origin` and naming the template's line.
  Template(const std::string& source, std::string origin);

  // The output for the variables in `context` (messages, add_generation_prompt, bos_token, ...);
  // errors (raise_exception, a type error) are rlhf::Error naming the template's line.
  std::string render(const Dict& context) const;

  const std::string& origin() const { return origin_; }

 private:
  Body body_;
  std::string origin_;
};

}  // namespace rlhf::jinja
