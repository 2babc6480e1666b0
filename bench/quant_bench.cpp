// quant_bench — NF4 on this machine (numbers in bench/README.md):
//   1. NF4 dequantize throughput (GB/s of output written) next to a plain memory copy of the
//      same output size, for float32 and bfloat16 output;
//   2. base-weight memory of the ~100M Llama bench model: dense fp32 vs NF4 (+ double quant);
//   3. forward+backward step time with LoRA (r = 16, all-linear) on an NF4 base vs a dense
//      fp32 base.
// Usage: quant_bench [--quick]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "bench_model.hpp"
#include "lora/lora_adapter.hpp"
#include "quant_nf4/nf4_codebook.hpp"
#include "quant_nf4/nf4_kernels.hpp"
#include "quant_nf4/nf4_quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"

namespace {

using rlhf::bench::bench_config;

using Clock = std::chrono::steady_clock;

template <typename F>
double best_seconds(int iters, F&& f) {
  double best = 1e30;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void dequantize_throughput(int iters) {
  torch::manual_seed(0);
  const std::int64_t out = 4096, in = 4096, n = out * in;
  const torch::Tensor w = torch::randn({out, in}) * 0.02;
  const auto q = rlhf::nf4::nf4_quantize(w, 64);
  const torch::Tensor qmap = torch::tensor(
      std::vector<float>(rlhf::nf4::nf4_codebook().begin(), rlhf::nf4::nf4_codebook().end()));
  std::printf("NF4 dequantize, %lldx%lld weight (blocksize 64), best of %d:\n",
              static_cast<long long>(out), static_cast<long long>(in), iters);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const double bytes = static_cast<double>(n) * (dtype == torch::kFloat32 ? 4 : 2);
    const double t_lut = best_seconds(
        iters, [&] { rlhf::nf4::nf4_dequantize(q.packed, q.absmax, qmap, n, 64, dtype); });
    const double t_ops = best_seconds(iters, [&] {
      rlhf::nf4::nf4_dequantize_torch_ops(q.packed, q.absmax, qmap, n, 64, dtype);
    });
    const torch::Tensor src = torch::empty({n}, dtype).fill_(1);
    const double t_copy = best_seconds(iters, [&] { torch::empty({n}, dtype).copy_(src); });
    std::printf(
        "  %-9s LUT kernel %6.2f GB/s | torch-ops path %6.2f GB/s | memory copy %6.2f GB/s\n",
        dtype == torch::kFloat32 ? "float32" : "bfloat16", bytes / t_lut / 1e9, bytes / t_ops / 1e9,
        bytes / t_copy / 1e9);
  }
}

std::int64_t base_bytes(rlhf::CausalLM& m) {
  std::int64_t b = 0;
  for (auto& [name, linear] : m.named_linears()) b += linear->weight()->storage_bytes();
  return b;
}

double lora_step_seconds(rlhf::CausalLM& model, std::int64_t B, std::int64_t T, int iters) {
  rlhf::lora::LoraAdapter adapter(
      rlhf::Config::parse("r = 16\nalpha = 32\ntarget_modules = \"all-linear\""));
  adapter.attach(model);
  torch::optim::AdamW opt(adapter.parameters(), torch::optim::AdamWOptions(1e-4));
  const torch::Tensor ids = torch::randint(3, 32000, {B, T});
  const torch::Tensor mask = torch::ones({B, T}, torch::kLong);
  auto step = [&] {
    opt.zero_grad();
    const torch::Tensor logits = model.forward(ids, mask);
    torch::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}).slice(0, 0, -1),
                                         ids.view(-1).slice(0, 1))
        .backward();
    opt.step();
  };
  step();  // warm-up
  return best_seconds(iters, step);
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(2);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  dequantize_throughput(quick ? 3 : 10);

  const auto cfg = bench_config();
  torch::manual_seed(0);
  auto dense = std::make_shared<rlhf::CausalLM>(cfg, torch::kFloat32);
  std::int64_t params = 0;
  for (const auto& p : dense->parameters()) params += p.numel();
  torch::manual_seed(0);
  auto nf4 = std::make_shared<rlhf::CausalLM>(cfg, torch::kFloat32);
  rlhf::nf4::NF4Quantizer quantizer(rlhf::Config::parse("double_quant = true"));
  for (auto& [name, linear] : nf4->named_linears())
    linear->set_weight(quantizer.quantize(linear->weight()->dense(), name, torch::kFloat32));
  rlhf::nf4::NF4Quantizer plain(rlhf::Config::parse(""));
  std::int64_t plain_bytes = 0;
  for (auto& [name, linear] : dense->named_linears())
    plain_bytes +=
        plain.quantize(linear->weight()->dense(), name, torch::kFloat32)->storage_bytes();
  const double dense_mb = base_bytes(*dense) / 1048576.0, nf4_mb = base_bytes(*nf4) / 1048576.0;
  std::printf("\nBench model: %lld parameters (%lld in projections)\n",
              static_cast<long long>(params), static_cast<long long>(base_bytes(*dense) / 4));
  std::printf(
      "Base-weight memory (projections): dense fp32 %.1f MiB | NF4 %.1f MiB (%.2fx) | "
      "NF4+double quant %.1f MiB (%.2fx smaller, %.4f bytes/param)\n",
      dense_mb, plain_bytes / 1048576.0, dense_mb / (plain_bytes / 1048576.0), nf4_mb,
      dense_mb / nf4_mb, static_cast<double>(base_bytes(*nf4)) / (base_bytes(*dense) / 4.0));

  const std::int64_t B = 1, T = quick ? 64 : 256;
  const int iters = quick ? 2 : 3;
  const double t_dense = lora_step_seconds(*dense, B, T, iters);
  const double t_nf4 = lora_step_seconds(*nf4, B, T, iters);
  std::printf(
      "\nLoRA r=16 all-linear, forward+backward+AdamW step, B=%lld T=%lld fp32 compute, "
      "best of %d:\n  dense base %.3f s | NF4 base %.3f s | ratio %.2fx\n",
      static_cast<long long>(B), static_cast<long long>(T), iters, t_dense, t_nf4, t_nf4 / t_dense);
  return 0;
}
