// Host start-up: how long plugin discovery and a whole `rlhf-host --list-plugins` process take
// with every plugin of the build (plus the test plugins) on the search path.
//   ninja -C build host_startup && build/bench/host_startup
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "plugin_registry.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main() {
  const std::vector<std::filesystem::path> dirs = {RLHF_BUILD_PLUGIN_DIR,
                                                   std::string(RLHF_TEST_PLUGIN_DIR) + "/good"};
  std::size_t plugins = 0;
  std::vector<double> discovery;
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    rlhf::host::PluginRegistry registry(dirs);
    discovery.push_back(ms_since(start));
    plugins = registry.plugins().size();
  }

  const std::string command = std::string(RLHF_HOST_BINARY) + " --list-plugins --plugin-path " +
                              RLHF_TEST_PLUGIN_DIR + "/good > /dev/null";
  std::vector<double> process;
  for (int i = 0; i < 10; ++i) {
    const auto start = Clock::now();
    if (std::system(command.c_str()) != 0) {
      std::cerr << "failed: " << command << "\n";
      return 1;
    }
    process.push_back(ms_since(start));
  }
  std::printf("plugins discovered:                        %zu\n", plugins);
  std::printf("PluginRegistry discovery (median of 20):   %.1f ms\n", median(discovery));
  std::printf("rlhf-host --list-plugins process (med. 10): %.1f ms\n", median(process));
  return 0;
}
