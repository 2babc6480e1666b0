// Subcommands of rlhf-host (`rlhf-host init-model …`, `rlhf-host quantize …`): tools that run
// instead of a pipeline. Each lives in its own host/cmd_<name>.cpp and registers itself:
//
//   static int run_init_model(const std::vector<std::string>& args);   // args after the name
//   RLHF_SUBCOMMAND("init-model", "write a random-initialised HF model directory", run_init_model)
//
// Each declares its own options (Boost.Program_options), parses them with
// parse_subcommand_options, and returns the process exit code. rlhf::Error thrown from run is
// printed as one line, exit code 1; a malformed command line (UsageError) exits 2.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>
#include <map>
#include <string>
#include <vector>

#include "rlhf/error.hpp"

namespace rlhf::host {

// A malformed command line (unknown, missing or ill-typed option): exit code 2, like the
// pipeline command line's own usage errors (README.md, "Command line").
class UsageError : public Error {
 public:
  using Error::Error;
};

struct Subcommand {
  std::string name;
  std::string summary;
  int (*run)(const std::vector<std::string>& args);
};

// Name → subcommand, sorted (for --help).
std::map<std::string, Subcommand>& subcommands();

struct SubcommandRegistration {
  SubcommandRegistration(const char* name, const char* summary,
                         int (*run)(const std::vector<std::string>&)) {
    subcommands()[name] = Subcommand{name, summary, run};
  }
};

// Parses `args` of subcommand `name` into `vm` and runs the notifiers. Returns false after
// printing `opts` when --help was given (the subcommand then exits 0). An unknown, missing or
// malformed option is a UsageError "<name>: <what> (see --help)".
bool parse_subcommand_options(const std::string& name,
                              const boost::program_options::options_description& opts,
                              const std::vector<std::string>& args,
                              boost::program_options::variables_map& vm);

}  // namespace rlhf::host

#define RLHF_SUBCOMMAND_CAT2(a, b) a##b
#define RLHF_SUBCOMMAND_CAT(a, b) RLHF_SUBCOMMAND_CAT2(a, b)
#define RLHF_SUBCOMMAND(NAME, SUMMARY, FN)                                                     \
  static ::rlhf::host::SubcommandRegistration RLHF_SUBCOMMAND_CAT(rlhf_subcommand_, __LINE__)( \
      NAME, SUMMARY, FN);
