// What every benchmark measures for bench/README.md: the wall time of a piece of work and the
// process's peak resident memory.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <utility>

namespace rlhf::bench {

// Wall-clock seconds that f() takes.
template <typename F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  std::forward<F>(f)();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The process's peak resident set so far (getrusage ru_maxrss), MiB.
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace rlhf::bench
