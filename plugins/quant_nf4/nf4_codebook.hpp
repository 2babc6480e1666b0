// The NF4 codebook of bitsandbytes (`quant_type="nf4"`, docs/formats.md, "NF4") and the
// decision thresholds bitsandbytes' quantizer compares against.
#pragma once

#include <array>

namespace rlhf::nf4 {

// Index 0..15 → normalised value in [-1, 1]; exactly bitsandbytes' float32 table.
const std::array<float, 16>& nf4_codebook();

// midpoint[i] separates codebook[i] and codebook[i+1]. bitsandbytes hard-codes these as
// float literals of the double-precision midpoints, so they are computed in double and then
// rounded to float. A scaled value v maps to the number of midpoints with v > midpoint: a tie
// goes to the lower index, and NaN (an all-zero block, 0 * inf) maps to index 0, as in bnb.
const std::array<float, 15>& nf4_midpoints();

// Index of the codebook entry a scaled value maps to (see nf4_midpoints()).
inline int nf4_index(float v) {
  const auto& mid = nf4_midpoints();
  int idx = 0;
  for (float m : mid) idx += v > m ? 1 : 0;
  return idx;
}

}  // namespace rlhf::nf4
