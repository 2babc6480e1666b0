// The LoRA delta every training benchmark attaches to the bench model (bench_model.hpp), and the
// process's peak resident memory for the numbers in bench/README.md.
#pragma once

#include <sys/resource.h>

#include <cmath>

#include <torch/torch.h>

#include "rlhf/linear.hpp"

namespace rlhf::bench {

// Minimal LoRA delta (x Aᵀ Bᵀ · α/r) in fp32 master weights, cast to the compute dtype.
class BenchLora : public rlhf::AdapterLayer {
 public:
  BenchLora(std::int64_t in, std::int64_t out)
      : A((torch::rand({16, in}) * 2 - 1) / std::sqrt(static_cast<double>(in))),
        B(torch::zeros({out, 16})) {
    A.set_requires_grad(true);
    B.set_requires_grad(true);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return x.matmul(A.t().to(x.scalar_type())).matmul(B.t().to(x.scalar_type())) * 2.0;
  }
  torch::Tensor A, B;
};

inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace rlhf::bench
