// NF4 dequantization. The CPU kernel works block by block (parallel over blocks): it scales the
// 16-entry codebook by the block's absmax once, then each packed byte becomes two table lookups.
// With AVX-512 the table fits one register and a lookup is one permute instruction over 16
// indices at a time; other CPUs run the scalar table loop.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <type_traits>
#include <vector>

#include "nf4_kernels.hpp"
#include "rlhf/error.hpp"

namespace rlhf::nf4 {
namespace {

// out[0..count) from packed nibbles starting at byte p (count even or the final odd tail).
template <typename Out>
void decode_scalar(const std::uint8_t* p, std::int64_t count, const float* table, Out* out) {
  const std::int64_t pairs = count / 2;
  for (std::int64_t k = 0; k < pairs; ++k) {
    const std::uint8_t byte = p[k];
    out[2 * k] = static_cast<Out>(table[byte >> 4]);
    out[2 * k + 1] = static_cast<Out>(table[byte & 15]);
  }
  if (count & 1) out[2 * pairs] = static_cast<Out>(table[p[pairs] >> 4]);
}

#if defined(__x86_64__)
// 32 outputs per 16 packed bytes: widen bytes to 16 lanes, split nibbles, permute the table by
// each nibble vector, then interleave high/low results back into element order. (The maskz_
// forms with a full mask avoid GCC 12's false -Wmaybe-uninitialized in the plain intrinsics.)
__attribute__((target("avx512f"))) void decode_avx512(const std::uint8_t* p, std::int64_t count,
                                                      const float* table, float* out) {
  const __m512 lut = _mm512_loadu_ps(table);
  const __m512i mask = _mm512_set1_epi32(15);
  const __mmask16 all = 0xFFFF;
  const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  std::int64_t k = 0;
  for (; k + 32 <= count; k += 32) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k / 2));
    const __m512i wide = _mm512_maskz_cvtepu8_epi32(all, bytes);
    const __m512 hi = _mm512_maskz_permutexvar_ps(all, _mm512_maskz_srli_epi32(all, wide, 4), lut);
    const __m512 lo = _mm512_maskz_permutexvar_ps(all, _mm512_and_si512(wide, mask), lut);
    _mm512_storeu_ps(out + k, _mm512_permutex2var_ps(hi, first, lo));
    _mm512_storeu_ps(out + k + 16, _mm512_permutex2var_ps(hi, second, lo));
  }
  decode_scalar(p + k / 2, count - k, table, out + k);
}

// Round-to-nearest-even float32 → bfloat16 of 16 lanes (as c10::BFloat16 does for finite
// values): add 0x7FFF plus the lowest kept bit, keep the high 16 bits.
__attribute__((target("avx512f"))) inline __m256i to_bfloat16(__m512 v) {
  const __mmask16 all = 0xFFFF;
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb =
      _mm512_and_si512(_mm512_maskz_srli_epi32(all, bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7FFF)), lsb);
  return _mm512_maskz_cvtepi32_epi16(all, _mm512_maskz_srli_epi32(all, rounded, 16));
}

// decode_avx512 with bfloat16 output, converted in registers.
__attribute__((target("avx512f"))) void decode_avx512_bf16(const std::uint8_t* p,
                                                           std::int64_t count, const float* table,
                                                           c10::BFloat16* out) {
  const __m512 lut = _mm512_loadu_ps(table);
  const __m512i mask = _mm512_set1_epi32(15);
  const __mmask16 all = 0xFFFF;
  const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  std::int64_t k = 0;
  for (; k + 32 <= count; k += 32) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k / 2));
    const __m512i wide = _mm512_maskz_cvtepu8_epi32(all, bytes);
    const __m512 hi = _mm512_maskz_permutexvar_ps(all, _mm512_maskz_srli_epi32(all, wide, 4), lut);
    const __m512 lo = _mm512_maskz_permutexvar_ps(all, _mm512_and_si512(wide, mask), lut);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k),
                        to_bfloat16(_mm512_permutex2var_ps(hi, first, lo)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k + 16),
                        to_bfloat16(_mm512_permutex2var_ps(hi, second, lo)));
  }
  decode_scalar(p + k / 2, count - k, table, out + k);
}

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}
#endif

template <typename Out>
void dequantize_cpu(const std::uint8_t* packed, const float* absmax, const float* quant_map,
                    std::int64_t n, std::int64_t blocksize, Out* out) {
  const std::int64_t blocks = (n + blocksize - 1) / blocksize;
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / blocksize);
  at::parallel_for(0, blocks, grain, [&](std::int64_t b0, std::int64_t b1) {
    alignas(64) float table[16];
    std::vector<float> staging;  // float block before rounding to a 16-bit dtype
    for (std::int64_t b = b0; b < b1; ++b) {
      for (int i = 0; i < 16; ++i) table[i] = quant_map[i] * absmax[b];
      const std::int64_t start = b * blocksize;
      const std::int64_t count = std::min(blocksize, n - start);
      const std::uint8_t* p = packed + start / 2;
#if defined(__x86_64__)
      if (cpu_has_avx512()) {
        if constexpr (std::is_same_v<Out, float>) {
          decode_avx512(p, count, table, out + start);
        } else if constexpr (std::is_same_v<Out, c10::BFloat16>) {
          decode_avx512_bf16(p, count, table, out + start);
        } else {
          staging.resize(static_cast<std::size_t>(blocksize));
          decode_avx512(p, count, table, staging.data());
          for (std::int64_t i = 0; i < count; ++i) out[start + i] = static_cast<Out>(staging[i]);
        }
        continue;
      }
#endif
      decode_scalar(p, count, table, out + start);
    }
  });
}

void check_inputs(const torch::Tensor& packed, const torch::Tensor& absmax,
                  const torch::Tensor& quant_map, std::int64_t numel, std::int64_t blocksize,
                  torch::ScalarType dtype) {
  if (!is_supported_blocksize(blocksize))
    throw Error("nf4: unsupported blocksize " + std::to_string(blocksize) +
                " (powers of two from 32 to 4096)");
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
    throw Error(std::string("nf4: unsupported compute dtype ") + c10::toString(dtype) +
                " (float32, bfloat16 or float16)");
  if (packed.scalar_type() != torch::kUInt8 || packed.numel() != (numel + 1) / 2)
    throw Error("nf4: packed weight must be uint8 with " + std::to_string((numel + 1) / 2) +
                " elements, got " + std::to_string(packed.numel()));
  if (absmax.scalar_type() != torch::kFloat32 ||
      absmax.numel() != (numel + blocksize - 1) / blocksize)
    throw Error("nf4: absmax must be float32 with " +
                std::to_string((numel + blocksize - 1) / blocksize) + " elements, got " +
                std::to_string(absmax.numel()));
  if (quant_map.numel() != 16) throw Error("nf4: quant_map must have 16 entries");
}

}  // namespace

torch::Tensor nf4_dequantize(const torch::Tensor& packed, const torch::Tensor& absmax,
                             const torch::Tensor& quant_map, std::int64_t numel,
                             std::int64_t blocksize, torch::ScalarType dtype) {
  check_inputs(packed, absmax, quant_map, numel, blocksize, dtype);
  if (!packed.device().is_cpu())
    return nf4_dequantize_torch_ops(packed, absmax, quant_map, numel, blocksize, dtype);
  const torch::Tensor p = packed.contiguous();
  const torch::Tensor a = absmax.contiguous();
  const torch::Tensor q = quant_map.to(torch::kFloat32).contiguous();
  torch::Tensor out = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
  const auto* pp = p.data_ptr<std::uint8_t>();
  const float* ap = a.data_ptr<float>();
  const float* qp = q.data_ptr<float>();
  switch (dtype) {
    case torch::kFloat32:
      dequantize_cpu(pp, ap, qp, numel, blocksize, out.data_ptr<float>());
      break;
    case torch::kBFloat16:
      dequantize_cpu(pp, ap, qp, numel, blocksize, out.data_ptr<c10::BFloat16>());
      break;
    default:
      dequantize_cpu(pp, ap, qp, numel, blocksize, out.data_ptr<c10::Half>());
      break;
  }
  return out;
}

torch::Tensor nf4_dequantize_torch_ops(const torch::Tensor& packed, const torch::Tensor& absmax,
                                       const torch::Tensor& quant_map, std::int64_t numel,
                                       std::int64_t blocksize, torch::ScalarType dtype) {
  check_inputs(packed, absmax, quant_map, numel, blocksize, dtype);
  const torch::Tensor bytes = packed.reshape({-1}).to(torch::kInt64);
  // [bytes, 2] (high, low) → element order; drop the padding nibble of an odd count.
  const torch::Tensor idx = torch::stack({bytes.bitwise_right_shift(4), bytes.bitwise_and(15)}, 1)
                                .reshape({-1})
                                .slice(0, 0, numel);
  const torch::Tensor values = quant_map.to(packed.device(), torch::kFloat32).index_select(0, idx);
  const torch::Tensor scale = absmax.repeat_interleave(blocksize).slice(0, 0, numel);
  return (values * scale).to(dtype);
}

}  // namespace rlhf::nf4
