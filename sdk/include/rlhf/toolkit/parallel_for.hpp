// rlhf::parallel_for — runs body(i) for every i in [0, n) on several threads, for independent
// items such as tokenising examples or parsing the lines of a data file.
//
// Each thread takes one contiguous range of indices (the calling thread the first), so results
// written by index come out in the order a plain loop gives. If body throws, every thread stops
// at its first exception, the others finish their ranges, and the exception of the lowest range
// is rethrown: the one a plain loop would have thrown first. body must be safe to call
// concurrently for different i.
#pragma once

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace rlhf {

// The threads parallel_for uses by default: one per CPU this process may run on (its
// affinity mask, so `taskset -c 0` gives one), else std::thread::hardware_concurrency().
inline std::size_t default_thread_count() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return static_cast<std::size_t>(CPU_COUNT(&set));
#endif
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

template <typename Body>
void parallel_for(std::size_t n, Body&& body, std::size_t threads = default_thread_count()) {
  threads = std::max<std::size_t>(1, std::min(threads, n));
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  auto run_range = [&](std::size_t t) {
    const std::size_t begin = n * t / threads, end = n * (t + 1) / threads;
    try {
      for (std::size_t i = begin; i < end; ++i) body(i);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(run_range, t);
  run_range(0);
  for (auto& th : pool) th.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace rlhf
