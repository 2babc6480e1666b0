// DataSource — a dataset plugin (kind "data").
//
// Configured by a stage's `data = { plugin = "...", ... }` table. The constructor reads and
// validates its keys and may check that files exist; the data itself is read by load(), which
// the host calls once before the stage runs (so `--check` stays cheap but can still fail fast
// on a missing file). Splits are deterministic given the run seed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rlhf/example.hpp"
#include "rlhf/plugin.hpp"

namespace rlhf {

enum class Split { train, eval };

class DataSource : public Plugin {
 public:
  // Reads the data. `seed` drives shuffling, sampling and the eval split.
  virtual void load(std::uint64_t seed) = 0;
  virtual std::size_t size(Split split = Split::train) const = 0;
  virtual Example at(std::size_t index, Split split = Split::train) const = 0;
};

}  // namespace rlhf
