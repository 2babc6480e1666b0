// One layer's attention core at the 100M bench model's shape (bench/bench_model.hpp: 12 query
// heads on 4 key/value heads of 64; batch 4 × 512, causal mask) two ways, in one process,
// alternating, best of `iters`: the plain autograd form (repeated k/v, the float32 softmax
// output and its model-dtype copy saved for backward) and sdk/src/attention_core.cpp (saves
// q, k, v and the mask; recomputes the probabilities in backward, a chunk of query rows at a
// time, each chunk against the keys it can see). Forward alone (no grad) and forward + backward
// of Σ out·w. Also prints what each keeps for backward (the mask, shared by every layer, aside).
// Numbers: bench/README.md, "Attention without saved probabilities".
//
//   build/bench/attention_core_bench [iters=10] [threads=2] [bfloat16|float32] [T=512]
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "rlhf/attention_core.hpp"

namespace {

template <typename F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::stoi(argv[1]) : 10;
  at::set_num_threads(argc > 2 ? std::stoi(argv[2]) : 2);
  const std::string dtype_name = argc > 3 ? argv[3] : "bfloat16";
  const std::int64_t B = 4, H = 12, G = 4, hd = 64, T = argc > 4 ? std::stoll(argv[4]) : 512;
  const auto dtype = dtype_name == "float32" ? torch::kFloat32 : torch::kBFloat16;

  torch::manual_seed(0);
  const torch::Tensor q = torch::randn({B, H, T, hd}).to(dtype);
  const torch::Tensor k = torch::randn({B, G, T, hd}).to(dtype);
  const torch::Tensor v = torch::randn({B, G, T, hd}).to(dtype);
  const torch::Tensor w = torch::randn({B, T, H, hd});
  const torch::Tensor index = torch::arange(T);
  const torch::Tensor blocked =
      (index.view({1, 1, 1, T}) > index.view({1, 1, T, 1})).expand({B, 1, T, T}).contiguous();

  auto run = [&](bool plain, bool backward) {
    std::unique_ptr<rlhf::detail::ReferenceAttention> reference;
    if (plain) reference = std::make_unique<rlhf::detail::ReferenceAttention>();
    if (!backward) {
      torch::NoGradGuard no_grad;
      return seconds([&] { rlhf::detail::attention_core(q, k, v, blocked); });
    }
    const auto qg = q.detach().requires_grad_(true), kg = k.detach().requires_grad_(true),
               vg = v.detach().requires_grad_(true);
    return seconds([&] {
      (rlhf::detail::attention_core(qg, kg, vg, blocked).to(torch::kFloat32) * w).sum().backward();
    });
  };
  double best[2][2] = {{1e9, 1e9}, {1e9, 1e9}};  // [plain][backward]
  for (int it = 0; it < iters + 1; ++it)         // the first round warms up
    for (int backward = 0; backward < 2; ++backward)
      for (int plain = 1; plain >= 0; --plain) {
        const double s = run(plain, backward);
        if (it > 0) best[plain][backward] = std::min(best[plain][backward], s);
      }

  const double scores = static_cast<double>(B * H * T * T);
  const double e = dtype == torch::kFloat32 ? 4 : 2;
  std::printf(
      "attention_core_bench: %s, B %ld, %ld/%ld heads of %ld, T %ld, causal, %d threads, "
      "best of %d\n",
      dtype_name.c_str(), static_cast<long>(B), static_cast<long>(H), static_cast<long>(G),
      static_cast<long>(hd), static_cast<long>(T), at::get_num_threads(), iters);
  std::printf(
      "  plain  forward %7.1f ms   forward+backward %7.1f ms   kept for backward %6.1f MiB\n",
      best[1][0] * 1e3, best[1][1] * 1e3,
      (scores * (4 + e) + 3.0 * B * H * T * hd * e) / (1 << 20));
  std::printf(
      "  core   forward %7.1f ms   forward+backward %7.1f ms   kept for backward %6.1f MiB"
      "   (%.2fx / %.2fx)\n",
      best[0][0] * 1e3, best[0][1] * 1e3,
      static_cast<double>(B * (H + 2 * G) * T * hd) * e / (1 << 20), best[1][0] / best[0][0],
      best[1][1] / best[0][1]);
  return 0;
}
