// Helpers shared by the quantize and bench-quant subcommands.
#pragma once

#include <string>
#include <vector>

#include "rlhf/config.hpp"

namespace rlhf::host {

// A plugin config table from "key=value" strings: each value is read as a TOML value when it
// parses as one (64, true, ["a"]), else as a bare string. `origin` names them in messages.
rlhf::Config config_from_sets(const std::vector<std::string>& sets, const std::string& origin);

// "float32" | "bfloat16" | "float16" → dtype; anything else is an rlhf::Error naming `what`.
torch::ScalarType parse_compute_dtype(const std::string& name, const std::string& what);

}  // namespace rlhf::host
