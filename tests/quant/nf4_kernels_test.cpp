// NF4 quantization against hand-built blocks, bit for bit (docs/formats.md, "NF4").
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "quant_nf4/nf4_codebook.hpp"
#include "quant_nf4/nf4_kernels.hpp"
#include "rlhf/error.hpp"

using namespace rlhf::nf4;

namespace {

// The codebook as printed in docs/formats.md, "NF4" (typed independently of the plugin's table).
const std::vector<double> kCodebook = {-1.0,
                                       -0.6961928009986877,
                                       -0.5250730514526367,
                                       -0.39491748809814453,
                                       -0.28444138169288635,
                                       -0.18477343022823334,
                                       -0.09105003625154495,
                                       0.0,
                                       0.07958029955625534,
                                       0.16093020141124725,
                                       0.24611230194568634,
                                       0.33791524171829224,
                                       0.44070982933044434,
                                       0.5626170039176941,
                                       0.7229568362236023,
                                       1.0};

float code(int i) { return static_cast<float>(kCodebook[static_cast<std::size_t>(i)]); }

torch::Tensor from(const std::vector<float>& v) { return torch::tensor(v).view({1, -1}); }

std::vector<std::uint8_t> bytes(const torch::Tensor& packed) {
  const torch::Tensor p = packed.contiguous().view(-1);
  return std::vector<std::uint8_t>(p.data_ptr<std::uint8_t>(),
                                   p.data_ptr<std::uint8_t>() + p.numel());
}

}  // namespace

TEST(NF4Kernels, CodebookIsBitsandbytesTable) {
  for (int i = 0; i < 16; ++i) EXPECT_EQ(nf4_codebook()[i], code(i)) << i;
}

TEST(NF4Kernels, CodebookValuesMapToTheirIndexHighNibbleFirst) {
  // One 64-block: the 16 codebook values scaled by 2 (absmax 2), then 48 zeros.
  std::vector<float> w(64, 0.0f);
  for (int i = 0; i < 16; ++i) w[i] = 2.0f * code(i);
  const NF4Blocks q = nf4_quantize(from(w), 64);
  ASSERT_EQ(q.packed.sizes(), (std::vector<std::int64_t>{32, 1}));
  ASSERT_EQ(q.packed.scalar_type(), torch::kUInt8);
  std::vector<std::uint8_t> expected = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
  expected.resize(32, 0x77);  // zeros are index 7
  EXPECT_EQ(bytes(q.packed), expected);
  ASSERT_EQ(q.absmax.numel(), 1);
  EXPECT_EQ(q.absmax[0].item<float>(), 2.0f);
}

TEST(NF4Kernels, NibbleOrderAndNegativeAbsmax) {
  // absmax comes from the most negative value; first element in the high nibble.
  std::vector<float> w(32, 0.0f);
  w[0] = 3.0f * code(15) * -1.0f;  // -3 → index 0
  w[1] = 3.0f * code(14);          // 0.7229.. → index 14
  w[2] = 3.0f * code(1);           // index 1
  w[3] = 3.0f * code(9);           // index 9
  const NF4Blocks q = nf4_quantize(from(w), 32);
  EXPECT_EQ(q.absmax[0].item<float>(), 3.0f);
  const auto b = bytes(q.packed);
  EXPECT_EQ(b[0], 0x0E);
  EXPECT_EQ(b[1], 0x19);
  EXPECT_EQ(b[2], 0x77);
}

TEST(NF4Kernels, PartialLastBlockHasItsOwnAbsmax) {
  // 70 values, blocksize 64: block 1 holds 6 values, absmax over those only.
  std::vector<float> w(70, 0.0f);
  w[0] = 8.0f;
  w[64] = 0.5f;          // index 15 in block 1
  w[65] = -0.5f;         // index 0
  w[69] = 0.25f * 0.5f;  // 0.25 of absmax: nearest 0.2461 (index 10)
  const NF4Blocks q = nf4_quantize(from(w), 64);
  ASSERT_EQ(q.absmax.numel(), 2);
  EXPECT_EQ(q.absmax[0].item<float>(), 8.0f);
  EXPECT_EQ(q.absmax[1].item<float>(), 0.5f);
  const auto b = bytes(q.packed);
  ASSERT_EQ(b.size(), 35u);
  EXPECT_EQ(b[0], 0xF7);
  EXPECT_EQ(b[32], 0xF0);
  EXPECT_EQ(b[33], 0x77);
  EXPECT_EQ(b[34], 0x7A);
}

TEST(NF4Kernels, OddCountPadsLowNibbleWithZeroIndex) {
  const NF4Blocks q = nf4_quantize(from({1.0f, -1.0f, 0.0f, 0.5626170039176941f, 1.0f}), 64);
  ASSERT_EQ(q.packed.size(0), 3);
  EXPECT_EQ(bytes(q.packed), (std::vector<std::uint8_t>{0xF0, 0x7D, 0xF7}));
}

TEST(NF4Kernels, AllZeroBlockIsIndexZeroAndDequantizesToZero) {
  std::vector<float> w(64, 0.0f);
  w.resize(128, 1.0f);
  const NF4Blocks q = nf4_quantize(from(w), 64);
  const auto b = bytes(q.packed);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b[static_cast<std::size_t>(i)], 0x00) << i;
  for (int i = 32; i < 64; ++i) EXPECT_EQ(b[static_cast<std::size_t>(i)], 0xFF) << i;
  EXPECT_EQ(q.absmax[0].item<float>(), 0.0f);
  const torch::Tensor d = nf4_dequantize(
      q.packed, q.absmax, torch::tensor(std::vector<float>(kCodebook.begin(), kCodebook.end())),
      128, 64, torch::kFloat32);
  EXPECT_TRUE(torch::equal(d.slice(0, 0, 64), torch::zeros({64})));
  EXPECT_TRUE(torch::equal(d.slice(0, 64), torch::ones({64})));
}

TEST(NF4Kernels, TiesAtMidpointsGoToTheLowerIndex) {
  // bitsandbytes compares with '>' against float32 midpoints computed in double precision.
  for (int i = 0; i < 15; ++i) {
    const float mid = static_cast<float>(
        (kCodebook[static_cast<std::size_t>(i)] + kCodebook[static_cast<std::size_t>(i) + 1]) /
        2.0);
    std::vector<float> w(32, 0.0f);
    w[0] = 1.0f;
    w[2] = mid;
    w[4] = std::nextafter(mid, 2.0f);
    const auto b = bytes(nf4_quantize(from(w), 32).packed);
    EXPECT_EQ(b[1] >> 4, i) << "midpoint " << i;
    EXPECT_EQ(b[2] >> 4, i + 1) << "above midpoint " << i;
  }
}

TEST(NF4Kernels, DequantizeIsCodebookTimesAbsmax) {
  torch::manual_seed(1);
  const torch::Tensor w = torch::randn({37, 29});  // 1073 values: odd, partial last block
  const NF4Blocks q = nf4_quantize(w, 64);
  const torch::Tensor qmap = torch::tensor(std::vector<float>(kCodebook.begin(), kCodebook.end()));
  const torch::Tensor d = nf4_dequantize(q.packed, q.absmax, qmap, w.numel(), 64, torch::kFloat32);
  const auto b = bytes(q.packed);
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    const std::uint8_t byte = b[static_cast<std::size_t>(i / 2)];
    const int idx = i % 2 == 0 ? byte >> 4 : byte & 15;
    const float expected = code(idx) * q.absmax[i / 64].item<float>();
    ASSERT_EQ(d[i].item<float>(), expected) << i;
  }
  // Reduced dtypes are the float32 product rounded once.
  for (auto dtype : {torch::kBFloat16, torch::kFloat16})
    EXPECT_TRUE(
        torch::equal(nf4_dequantize(q.packed, q.absmax, qmap, w.numel(), 64, dtype), d.to(dtype)));
}

TEST(NF4Kernels, VectorisedKernelMatchesTorchOpsForEveryBlocksize) {
  torch::manual_seed(2);
  const torch::Tensor qmap = torch::tensor(std::vector<float>(kCodebook.begin(), kCodebook.end()));
  for (std::int64_t bs : {32, 64, 128, 256, 512, 1024, 2048, 4096}) {
    const torch::Tensor w = torch::randn({5001});
    const NF4Blocks q = nf4_quantize(w, bs);
    for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16})
      EXPECT_TRUE(torch::equal(nf4_dequantize(q.packed, q.absmax, qmap, 5001, bs, dtype),
                               nf4_dequantize_torch_ops(q.packed, q.absmax, qmap, 5001, bs, dtype)))
          << "blocksize " << bs;
  }
}

TEST(NF4Kernels, RandomWeightErrorWithinHalfTheCodebookGap) {
  // Each value maps to its nearest codebook entry, so the error is at most half the gap between
  // the chosen entry and its neighbour on the value's side, times the block absmax.
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({64, 96}) * 0.02;
  const NF4Blocks q = nf4_quantize(w, 64);
  const torch::Tensor qmap = torch::tensor(std::vector<float>(kCodebook.begin(), kCodebook.end()));
  const torch::Tensor d = nf4_dequantize(q.packed, q.absmax, qmap, w.numel(), 64, torch::kFloat32);
  const torch::Tensor flat = w.view(-1);
  double max_half_gap = 0.0;
  for (int i = 0; i < 15; ++i)
    max_half_gap = std::max(max_half_gap, (kCodebook[i + 1] - kCodebook[i]) / 2.0);
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    const double a = q.absmax[i / 64].item<float>();
    const double x = flat[i].item<float>() / a;
    double nearest = 2.0;
    for (double c : kCodebook) nearest = std::min(nearest, std::fabs(x - c));
    const double err = std::fabs(flat[i].item<float>() - d[i].item<float>());
    ASSERT_LE(err, nearest * a + 1e-7) << i;
    ASSERT_LE(err, max_half_gap * a + 1e-7) << i;
  }
  const double rel = ((d - flat).norm() / flat.norm()).item<double>();
  EXPECT_LT(rel, 0.12);  // NF4 on Gaussian weights: about 0.09
  EXPECT_GT(rel, 0.0);
}

TEST(NF4Kernels, RejectsUnsupportedBlocksizeAndDtype) {
  const torch::Tensor w = torch::randn({4, 64});
  for (std::int64_t bs : {16, 48, 100, 8192}) {
    try {
      nf4_quantize(w, bs);
      FAIL() << bs;
    } catch (const rlhf::Error& e) {
      EXPECT_NE(std::string(e.what()).find("unsupported blocksize " + std::to_string(bs)),
                std::string::npos);
    }
  }
  EXPECT_THROW(nf4_quantize(torch::ones({4, 64}, torch::kLong), 64), rlhf::Error);
  const NF4Blocks q = nf4_quantize(w, 64);
  try {
    nf4_dequantize(q.packed, q.absmax, torch::zeros({16}), 256, 64, torch::kFloat64);
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported compute dtype"), std::string::npos);
  }
}
