// Temporary folders for tests. ctest runs test cases in parallel processes, so every path a
// test writes must be private to its process: a shared fixed name under /tmp lets one process
// read a file another is halfway through writing.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace rlhf::test {

// A fresh folder under the system temp dir, unique to this process and object, removed on
// destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "rlhf-test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
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
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// `name` inside one folder private to this test process (removed when the process exits):
// for fixtures shared by the tests of one process, e.g. a tokenizer trained once.
inline std::filesystem::path process_temp_path(const std::string& name) {
  static TempDir root("rlhf-test-process");
  return root / name;
}

}  // namespace rlhf::test
