// Debian's toml++ is a compiled library whose formatter prints every float at 17 significant
// digits (`beta = 0.10000000000000001`). The resolved pipeline.toml is read by people, so its
// floats are rewritten in their shortest form that parses back to the same double
// (`beta = 0.1`): the file stays an exact record of the run.
#pragma once

#include <string>

namespace rlhf::host {

// `toml_text` with each float value (outside strings and comments) in shortest round-trip form.
std::string shortest_toml_floats(const std::string& toml_text);

}  // namespace rlhf::host
