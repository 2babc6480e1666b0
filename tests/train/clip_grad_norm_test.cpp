// clip_grad_norm against hand-computed norms and torch.nn.utils.clip_grad_norm_'s scaling.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "rlhf/toolkit/optimizer.hpp"

namespace {

torch::Tensor param_with_grad(torch::Tensor grad) {
  auto p = torch::zeros_like(grad).requires_grad_(true);
  p.mutable_grad() = grad.clone();
  return p;
}

TEST(ClipGradNorm, GlobalNormOfAllGradientsAndTorchsScale) {
  // |(3, 4)| = 5 and |(12)| = 12: together sqrt(25 + 144) = 13. The parameter without a
  // gradient is left out.
  rlhf::NamedTensors params = {{"a", param_with_grad(torch::tensor({3.0f, 4.0f}))},
                               {"b", param_with_grad(torch::tensor({{12.0f}}))},
                               {"frozen", torch::ones({2}).requires_grad_(true)}};
  EXPECT_DOUBLE_EQ(rlhf::clip_grad_norm(params, 0), 13.0);  // 0: measure only
  EXPECT_TRUE(params[0].second.grad().equal(torch::tensor({3.0f, 4.0f})));
  EXPECT_DOUBLE_EQ(rlhf::clip_grad_norm(params, 20.0), 13.0);  // below the limit: unchanged
  EXPECT_TRUE(params[1].second.grad().equal(torch::tensor({{12.0f}})));

  EXPECT_DOUBLE_EQ(rlhf::clip_grad_norm(params, 6.5), 13.0);
  const double scale = 6.5 / (13.0 + 1e-6);  // clip_coef = max_norm / (total + 1e-6)
  EXPECT_NEAR(params[0].second.grad()[0].item<double>(), 3.0 * scale, 1e-6);
  EXPECT_NEAR(params[0].second.grad()[1].item<double>(), 4.0 * scale, 1e-6);
  EXPECT_NEAR(params[1].second.grad()[0][0].item<double>(), 12.0 * scale, 1e-6);
  EXPECT_NEAR(rlhf::clip_grad_norm(params, 0), 6.5, 1e-5);
  EXPECT_FALSE(params[2].second.grad().defined());
}

TEST(ClipGradNorm, MillionsOfSmallFloat32GradientsMatchAFloat64Sum) {
  torch::manual_seed(3);
  rlhf::NamedTensors params;
  double sum_sq = 0;
  for (int i = 0; i < 4; ++i) {
    auto g = torch::randn({1000, 1000}) * 1e-3 * (i + 1);
    sum_sq += g.to(torch::kDouble).pow(2).sum().item<double>();
    params.emplace_back("p" + std::to_string(i), param_with_grad(g));
  }
  EXPECT_NEAR(rlhf::clip_grad_norm(params, 0), std::sqrt(sum_sq), 1e-6 * std::sqrt(sum_sq));
  EXPECT_EQ(rlhf::clip_grad_norm({}, 1.0), 0.0);
}

}  // namespace
