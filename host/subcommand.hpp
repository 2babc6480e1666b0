// Subcommands of rlhf-host (`rlhf-host init-model …`, `rlhf-host quantize …`): tools that run
// instead of a pipeline. Each lives in its own host/cmd_<name>.cpp and registers itself:
//
//   static int run_init_model(const std::vector<std::string>& args);   // args after the name
//   RLHF_SUBCOMMAND("init-model", "write a random-initialised HF model directory", run_init_model)
//
// Each parses its own options (Boost.Program_options), prints its own --help, and returns
// the process exit code. rlhf::Error thrown from run is printed as one line, exit code 1.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace rlhf::host {

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

}  // namespace rlhf::host

#define RLHF_SUBCOMMAND_CAT2(a, b) a##b
#define RLHF_SUBCOMMAND_CAT(a, b) RLHF_SUBCOMMAND_CAT2(a, b)
#define RLHF_SUBCOMMAND(NAME, SUMMARY, FN)                                                     \
  static ::rlhf::host::SubcommandRegistration RLHF_SUBCOMMAND_CAT(rlhf_subcommand_, __LINE__)( \
      NAME, SUMMARY, FN);
