// Helpers shared by the model-core tests: temporary directories, a tokenizer trained once per
// process on the repo corpus, and running host subcommands in-process.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "subcommand.hpp"

namespace rlhf::test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("rlhf-model-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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
