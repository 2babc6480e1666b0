// Helpers shared by the model-core tests: temporary directories, a tokenizer trained once per
// process on the repo corpus, and running host subcommands in-process.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "subcommand.hpp"
#include "temp_dir.hpp"

namespace rlhf::test {

inline std::filesystem::path corpus_path() {
  return std::filesystem::path(RLHF_SOURCE_DIR) / "examples/tokenizer/corpus.txt";
}

// Runs `rlhf-host <name> args...` in-process through the subcommand registry.
inline int run_subcommand(const std::string& name, const std::vector<std::string>& args) {
  return rlhf::host::subcommands().at(name).run(args);
}

// A tiny model directory made by `init-model` once per process (hidden 32, 2 layers, GQA 4/2,
// vocab ≤ 512), removed at exit.
inline const std::filesystem::path& tiny_model_dir() {
  static TempDir dir;
  static const std::filesystem::path model = [] {
    const auto p = dir.path() / "tiny";
    run_subcommand("init-model",
                   {"--out", p.string(), "--corpus", corpus_path().string(), "--hidden-size", "32",
                    "--intermediate-size", "64", "--heads", "4", "--kv-heads", "2", "--layers", "2",
                    "--vocab-size", "400", "--seed", "7"});
    return p;
  }();
  return model;
}

}  // namespace rlhf::test
