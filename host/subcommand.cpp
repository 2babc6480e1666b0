#include "subcommand.hpp"

#include <boost/program_options/parsers.hpp>
#include <iostream>

#include "rlhf/error.hpp"

namespace rlhf::host {

std::map<std::string, Subcommand>& subcommands() {
  static std::map<std::string, Subcommand> table;
  return table;
}

bool parse_subcommand_options(const std::string& name,
                              const boost::program_options::options_description& opts,
                              const std::vector<std::string>& args,
                              boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(name + ": " + e.what() + " (see --help)");
  }
  return true;
}

}  // namespace rlhf::host
