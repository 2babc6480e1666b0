#include "plugin_path.hpp"

#include <cstdlib>
#include <string>

namespace rlhf::host {

namespace fs = std::filesystem;

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

std::vector<fs::path> plugin_search_path(const std::vector<fs::path>& command_line_dirs) {
  std::vector<fs::path> dirs = command_line_dirs;
  if (const char* env = std::getenv("RLHF_PLUGIN_PATH")) {
    std::string value = env;
    std::size_t start = 0;
    while (start <= value.size()) {
      auto end = value.find(':', start);
      if (end == std::string::npos) end = value.size();
      if (end > start) dirs.emplace_back(value.substr(start, end - start));
      start = end + 1;
    }
  }
  const fs::path installed = executable_dir() / ".." / RLHF_INSTALL_PLUGIN_SUBDIR;
  std::error_code ec;
  dirs.push_back(fs::is_directory(installed, ec) ? installed.lexically_normal()
                                                 : fs::path(RLHF_BUILD_PLUGIN_DIR));
  return dirs;
}

}  // namespace rlhf::host
