// The LoRA delta every training benchmark attaches to the bench model (bench_model.hpp).
#pragma once

#include <cmath>

#include <torch/torch.h>

#include "bench_measure.hpp"  // peak_rss_mib, for the benchmarks that include only this header
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

}  // namespace rlhf::bench
