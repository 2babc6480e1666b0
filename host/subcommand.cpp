#include "subcommand.hpp"

namespace rlhf::host {

std::map<std::string, Subcommand>& subcommands() {
  static std::map<std::string, Subcommand> table;
  return table;
}

}  // namespace rlhf::host
