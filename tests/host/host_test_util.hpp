// Helpers for the host tests: temporary folders, small files, and running the real rlhf-host
// binary with its exit code and combined output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"

namespace rlhf::host::testing {

namespace fs = std::filesystem;

inline const fs::path kTestPlugins = RLHF_TEST_PLUGIN_DIR;
inline const fs::path kHostBinary = RLHF_HOST_BINARY;

using rlhf::test::TempDir;

inline void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `rlhf-host <args>` (args already shell-quoted) in `cwd`.
inline CommandResult run_host(const std::string& args, const fs::path& cwd = fs::current_path()) {
  std::string command =
      "cd " + quote(cwd.string()) + " && " + quote(kHostBinary.string()) + " " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string plugin_path_args(std::initializer_list<std::string> subfolders) {
  std::string out;
  for (const auto& s : subfolders) out += " --plugin-path " + quote((kTestPlugins / s).string());
  return out;
}

}  // namespace rlhf::host::testing
