// Double quantization of NF4 block scales: bitsandbytes' signed dynamic map and the 8-bit
// blockwise round trip (docs/formats.md, "Double quantization").
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "quant_nf4/double_quant.hpp"

using namespace rlhf::nf4;

TEST(NF4DoubleQuant, SignedDynamicMapMatchesItsDefinition) {
  const torch::Tensor map = signed_dynamic_map();
  ASSERT_EQ(map.numel(), 256);
  ASSERT_EQ(map.scalar_type(), torch::kFloat32);
  const float* m = map.data_ptr<float>();
  for (int i = 1; i < 256; ++i) ASSERT_LT(m[i - 1], m[i]) << i;  // sorted, distinct
  EXPECT_EQ(m[127], 0.0f);                                       // 127 negatives, then zero
  EXPECT_EQ(m[255], 1.0f);
  // The naive formula from the spec in double precision: within float32 rounding (the spec
  // notes torch.linspace differs from a naive float formula by up to 6e-8).
  std::vector<double> naive = {0.0, 1.0};
  for (int i = 0; i < 7; ++i) {
    const int k = (1 << i) + 1;
    for (int j = 0; j + 1 < k; ++j) {
      const double lo = 0.1 + 0.9 * j / (k - 1), hi = 0.1 + 0.9 * (j + 1) / (k - 1);
      naive.push_back(std::pow(10.0, i - 6) * (lo + hi) / 2);
      naive.push_back(-std::pow(10.0, i - 6) * (lo + hi) / 2);
    }
  }
  std::sort(naive.begin(), naive.end());
  ASSERT_EQ(naive.size(), 256u);
  for (int i = 0; i < 256; ++i) EXPECT_NEAR(m[i], naive[static_cast<std::size_t>(i)], 1e-7) << i;
  // Smallest positive entry: 1e-6 times the midpoint of linspace(0.1, 1, 2) = 0.55.
  EXPECT_NEAR(m[128], 5.5e-7, 1e-13);
  EXPECT_NEAR(m[0], -(1.0 + (1.0 - 0.9 / 64)) / 2, 1e-7);
}

TEST(NF4DoubleQuant, IndexIsTheNearestMapEntry) {
  const torch::Tensor map = signed_dynamic_map();
  const float* m = map.data_ptr<float>();
  torch::manual_seed(4);
  const torch::Tensor xs = torch::cat({torch::rand({4000}) * 2 - 1, torch::randn({1000}) * 1e-3,
                                       torch::tensor({-1.0f, 0.0f, 1.0f})});
  for (std::int64_t i = 0; i < xs.numel(); ++i) {
    const float x = xs[i].item<float>();
    const int idx = dynamic_map_index(m, x);
    float best = 10.0f;
    for (int j = 0; j < 256; ++j) best = std::min(best, std::fabs(x - m[j]));
    ASSERT_LE(std::fabs(x - m[idx]), best * (1 + 1e-6f) + 1e-12f) << "x = " << x;
  }
  EXPECT_EQ(dynamic_map_index(m, 1.0f), 255);
  EXPECT_EQ(dynamic_map_index(m, 0.0f), 127);
}

TEST(NF4DoubleQuant, RoundTripReconstructsAbsmaxFromCodesNestedAbsmaxAndOffset) {
  torch::manual_seed(5);
  const torch::Tensor absmax = torch::rand({700}) * 0.1 + 0.01;  // 3 nested blocks, last partial
  const DoubleQuantState s = double_quantize(absmax);
  EXPECT_FLOAT_EQ(s.offset, absmax.mean().item<float>());
  ASSERT_EQ(s.codes.scalar_type(), torch::kUInt8);
  ASSERT_EQ(s.codes.numel(), 700);
  ASSERT_EQ(s.nested_absmax.numel(), 3);
  ASSERT_TRUE(torch::equal(s.nested_quant_map, signed_dynamic_map()));
  const torch::Tensor centred = absmax - s.offset;
  const torch::Tensor rec = double_dequantize(s);
  const float* map = s.nested_quant_map.data_ptr<float>();
  for (std::int64_t i = 0; i < 700; ++i) {
    const std::int64_t b = i / 256;
    // nested_absmax is the block's max |absmax - offset|.
    if (i % 256 == 0) {
      EXPECT_EQ(s.nested_absmax[b].item<float>(),
                centred.slice(0, b * 256, std::min<std::int64_t>(700, b * 256 + 256))
                    .abs()
                    .max()
                    .item<float>());
    }
    const float expected =
        map[s.codes[i].item<std::uint8_t>()] * s.nested_absmax[b].item<float>() + s.offset;
    ASSERT_EQ(rec[i].item<float>(), expected) << i;
    // The dynamic map's widest gap is below 0.0141, so the error is under 0.00705 * scale.
    ASSERT_LE(std::fabs(expected - absmax[i].item<float>()),
              0.00705 * s.nested_absmax[b].item<float>() + 1e-7)
        << i;
  }
}
