// Parses a chat template's segments (sdk/src/jinja/lexer.hpp) into statements
// (sdk/src/jinja/ast.hpp). Whatever the subset lacks is an rlhf::Error naming the construct and
// the template's line.
#pragma once

#include <string>

#include "ast.hpp"

namespace rlhf::jinja {

// `origin` starts each error message ("chat template in DIR/tokenizer_config.json").
Body parse_template(const std::string& source, const std::string& origin);

}  // namespace rlhf::jinja
