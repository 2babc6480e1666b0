// The rlhf-host command line (README "Command line"):
//
//   rlhf-host PIPELINE.toml [--set table.key=value]... [--resume | --overwrite]   run a pipeline
//   rlhf-host --check PIPELINE.toml                                 validate it, run nothing
//   rlhf-host --list-plugins                                        kind, name, version, file, ABI
//   rlhf-host <subcommand> [args]                                   tools (init-model, quantize, …)
//   common: --plugin-path DIR (repeatable), --log-level LEVEL, --version, --help
//
// Exit codes: 0 success; 1 an error (one line on stderr: "rlhf-host: error: …"); 2 bad usage;
// 130 stopped by SIGINT/SIGTERM (the running stage saved its state).
#pragma once

namespace rlhf::host {

int run_cli(int argc, char** argv);

}  // namespace rlhf::host
