// `--set table.key=value`: command-line overrides applied to a parsed pipeline document
// before validation.
//
// The key path walks tables ("run.seed", "adapter.r", "stage.dpo.data.path"); `stage.<name>`
// selects the [[stage]] whose `name` is <name>. The value is typed like the value it replaces:
// `--set run.seed=7` stays an integer, `--set model.path=x` a string (no quotes needed),
// `--set adapter.target_modules=["q_proj"]` an array. A key not yet present takes the type its
// text has as a TOML value (a bare word that is not one becomes a string).
#pragma once

#include <string>

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace rlhf::host {

// Applies one "key.path=value" to `document`. Throws rlhf::Error naming the override.
void apply_override(toml::table& document, const std::string& assignment);

}  // namespace rlhf::host
