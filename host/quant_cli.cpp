#include "quant_cli.hpp"

#include "rlhf/error.hpp"

namespace rlhf::host {

rlhf::Config config_from_sets(const std::vector<std::string>& sets, const std::string& origin) {
  std::string toml;
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      throw rlhf::Error(origin + " '" + s + "': expected key=value");
    const std::string key = s.substr(0, eq), value = s.substr(eq + 1);
    std::string line = key + " = " + value + "\n";
    try {
      rlhf::Config::parse(line, origin);
    } catch (const rlhf::Error&) {
      std::string quoted;
      for (char c : value)
        quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      line = key + " = \"" + quoted + "\"\n";
    }
    toml += line;
  }
  return rlhf::Config::parse(toml, origin);
}

torch::ScalarType parse_compute_dtype(const std::string& name, const std::string& what) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw rlhf::Error(what + " must be float32, bfloat16 or float16, not '" + name + "'");
}

}  // namespace rlhf::host
