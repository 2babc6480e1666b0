#include "nf4_codebook.hpp"

namespace rlhf::nf4 {

const std::array<float, 16>& nf4_codebook() {
  static const std::array<float, 16> table = {-1.0f,
                                              -0.6961928009986877f,
                                              -0.5250730514526367f,
                                              -0.39491748809814453f,
                                              -0.28444138169288635f,
                                              -0.18477343022823334f,
                                              -0.09105003625154495f,
                                              0.0f,
                                              0.07958029955625534f,
                                              0.16093020141124725f,
                                              0.24611230194568634f,
                                              0.33791524171829224f,
                                              0.44070982933044434f,
                                              0.5626170039176941f,
                                              0.7229568362236023f,
                                              1.0f};
  return table;
}

const std::array<float, 15>& nf4_midpoints() {
  static const std::array<float, 15> mid = [] {
    std::array<float, 15> m{};
    const auto& c = nf4_codebook();
    for (int i = 0; i < 15; ++i)
      m[i] = static_cast<float>((static_cast<double>(c[i]) + static_cast<double>(c[i + 1])) / 2.0);
    return m;
  }();
  return mid;
}

}  // namespace rlhf::nf4
