// The attention probabilities of the 100M bench model's layer shape (bench/bench_model.hpp:
// 12 heads of 64, batch 4 × 512, causal mask) in bfloat16, the way sdk/src/attention.cpp
// computes them now (scale and mask in place in the model dtype, softmax asked for float32) and
// the way it did until 2026-11-30 (scores cast to float32, then a masked float32 copy), in one
// process, alternating, best of `iters`; forward alone and forward + backward. The two must give
// identical probabilities and gradients. Numbers: bench/README.md, "Attention scores".
//
//   build/bench/attention_bench [iters=10] [threads=2]
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <string>

#include <torch/torch.h>

namespace {

torch::Tensor earlier(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& blocked,
                      double scale) {
  torch::Tensor scores = (torch::matmul(q, k.transpose(-1, -2)) * scale).to(torch::kFloat32);
  scores = scores.masked_fill(blocked, std::numeric_limits<float>::lowest());
  return torch::softmax(scores, -1).to(q.scalar_type());
}

torch::Tensor now(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& blocked,
                  double scale) {
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)).mul_(scale);
  scores.masked_fill_(blocked, static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest()));
  return torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
}

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
  const std::int64_t B = 4, H = 12, T = 512, D = 64;
  torch::manual_seed(0);
  const auto q = torch::randn({B, H, T, D}).to(torch::kBFloat16).requires_grad_(true);
  const auto k = torch::randn({B, H, T, D}).to(torch::kBFloat16).requires_grad_(true);
  const auto idx = torch::arange(T);
  const auto blocked = (idx.view({1, -1}) > idx.view({-1, 1})).view({1, 1, T, T});
  const double scale = 0.125;
  const auto grad_out = torch::randn({B, H, T, T}).to(torch::kBFloat16);

  torch::Tensor p_old, p_new, gq_old, gq_new;
  double fwd_old = 1e30, fwd_new = 1e30, both_old = 1e30, both_new = 1e30;
  for (int i = 0; i < iters; ++i) {
    {
      torch::NoGradGuard no_grad;
      fwd_old = std::min(fwd_old, seconds([&] { p_old = earlier(q, k, blocked, scale); }));
      fwd_new = std::min(fwd_new, seconds([&] { p_new = now(q, k, blocked, scale); }));
    }
    both_old = std::min(both_old, seconds([&] {
                          q.mutable_grad() = torch::Tensor();
                          earlier(q, k, blocked, scale).backward(grad_out);
                          gq_old = q.grad().clone();
                        }));
    both_new = std::min(both_new, seconds([&] {
                          q.mutable_grad() = torch::Tensor();
                          now(q, k, blocked, scale).backward(grad_out);
                          gq_new = q.grad().clone();
                        }));
  }
  std::printf(
      "attention_bench: bfloat16 [%ld, %ld, %ld, %ld], %d threads | forward: earlier %.1f ms, "
      "now %.1f ms (%.2fx) | forward+backward: earlier %.1f ms, now %.1f ms (%.2fx) | "
      "probabilities equal: %s, gradients equal: %s\n",
      static_cast<long>(B), static_cast<long>(H), static_cast<long>(T), static_cast<long>(D),
      at::get_num_threads(), fwd_old * 1e3, fwd_new * 1e3, fwd_old / fwd_new, both_old * 1e3,
      both_new * 1e3, both_old / both_new, p_old.equal(p_new) ? "yes" : "NO",
      gq_old.equal(gq_new) ? "yes" : "NO");
  return 0;
}
