// Gradient clipping on a full fine-tune of the 100M bench model (bench/bench_model.hpp): every
// parameter has a float32 gradient. Times rlhf::clip_grad_norm (a float32 sum of squares per
// gradient, one read of the total) against the earlier implementation, written out below (each
// gradient converted to float64, squared, summed and read with .item()), in the same process,
// alternating, best of `iters`. Both must give the same norm. Numbers: bench/README.md, "Gradient
// clipping".
//
//   build/bench/clip_bench [iters=5] [threads=2]
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "bench_model.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/optimizer.hpp"

namespace {

// The implementation clip_grad_norm had until 2026-11-30 (sdk/src/optimizer.cpp), norm only.
double float64_item_per_gradient(const rlhf::NamedTensors& params) {
  torch::NoGradGuard no_grad;
  double total_sq = 0.0;
  for (const auto& [name, p] : params)
    if (p.grad().defined()) total_sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  return std::sqrt(total_sq);
}

template <typename F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::stoi(argv[1]) : 5;
  at::set_num_threads(argc > 2 ? std::stoi(argv[2]) : 2);
  torch::manual_seed(0);
  const rlhf::CausalLM model(rlhf::bench::bench_config(), torch::kFloat32);
  rlhf::NamedTensors params;
  std::int64_t numel = 0;
  for (const auto& item : model.named_parameters()) {
    torch::Tensor p = item.value();
    p.mutable_grad() = torch::randn_like(p) * 1e-3;
    params.emplace_back(item.key(), p);
    numel += p.numel();
  }
  double best_new = 1e30, best_old = 1e30, norm_new = 0, norm_old = 0;
  for (int i = 0; i < iters; ++i) {
    best_old = std::min(best_old, seconds([&] { norm_old = float64_item_per_gradient(params); }));
    best_new = std::min(best_new, seconds([&] { norm_new = rlhf::clip_grad_norm(params, 0); }));
  }
  std::printf(
      "clip_bench: %zu gradients, %.1fM float32 values, %d threads | float64 + item per "
      "gradient %.1f ms (norm %.9g) | clip_grad_norm %.1f ms (norm %.9g) | %.1fx | relative "
      "difference %.2g\n",
      params.size(), numel / 1e6, at::get_num_threads(), best_old * 1e3, norm_old, best_new * 1e3,
      norm_new, best_old / best_new, std::abs(norm_new - norm_old) / norm_old);
  return 0;
}
