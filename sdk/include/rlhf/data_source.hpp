// DataSource — a dataset plugin (kind "data").
//
// Configured by a stage's `data = { plugin = "...", ... }` table. The constructor reads and
// validates its keys and may check that its files exist (it reads no data). The data itself is
// read by load(), which the host calls before the stage runs and `rlhf-host --check` calls too,
// so a malformed record fails the check with the message the run would give: load() reads
// everything the stage will use, writes nothing, and may be called again (it starts over).
// Splits are deterministic given the run seed.
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
