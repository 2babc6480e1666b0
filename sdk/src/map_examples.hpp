// map_examples — f(example) for every example of a split, on every hardware thread, in order.
//
// Tokenising a dataset is independent per example and is most of the time a stage spends before
// its first step (bench/data_bench.cpp). The examples are fetched on the calling thread, a block
// at a time, because DataSource::at() is not promised to be safe to call concurrently; f runs on
// rlhf::parallel_for, so the results keep the split's order, and an exception f throws is the
// one of the first example that failed, as with a plain loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "rlhf/data_source.hpp"
#include "rlhf/toolkit/parallel_for.hpp"

namespace rlhf {

template <typename Result, typename F>
std::vector<Result> map_examples(const DataSource& data, Split split, F&& f) {
  constexpr std::size_t kBlock = 4096;  // examples held at once, beside the results
  const std::size_t n = data.size(split);
  std::vector<Result> out(n);
  std::vector<Example> block;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t count = std::min(kBlock, n - start);
    block.clear();
    for (std::size_t i = 0; i < count; ++i) block.push_back(data.at(start + i, split));
    parallel_for(count, [&](std::size_t i) { out[start + i] = f(block[i]); });
  }
  return out;
}

}  // namespace rlhf
