// MasterWeights (sdk/include/rlhf/toolkit/master_weights.hpp): a bfloat16 weight trained through
// a float32 master takes updates smaller than its own precision, as a float32 run does.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rlhf/toolkit/master_weights.hpp"
#include "rlhf/toolkit/optimizer.hpp"
#include "rlhf/training_config.hpp"

namespace {

rlhf::TrainingConfig adamw_at(double lr) {
  rlhf::TrainingConfig c;
  c.learning_rate = lr;
  c.weight_decay = 0.0;
  return c;
}

// `steps` AdamW steps on `weight` with the constant gradient 1, through MasterWeights.
void train(const rlhf::NamedTensors& weight, int steps, double lr) {
  rlhf::MasterWeights masters(weight);
  auto adamw = rlhf::make_adamw(masters.params(), adamw_at(lr));
  for (int s = 0; s < steps; ++s) {
    weight[0].second.mutable_grad() = torch::ones_like(weight[0].second);
    masters.take_gradients();
    adamw->step();
    masters.write_back();
    adamw->zero_grad();
  }
}

TEST(MasterWeights, Bfloat16WeightTakesUpdatesBelowItsPrecision) {
  // 0.02 in bfloat16 is 0.0200195…; its spacing there is 2^-13 = 1.22e-4. AdamW with a constant
  // gradient moves a weight by lr / (1 + eps) per step (m̂ = 1, v̂ = 1), so 200 steps at 1e-6
  // move it by 2e-4: more than one spacing, yet each step is 1/122 of one.
  const double lr = 1e-6;
  const int steps = 200;
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  const double start = torch::full({4}, 0.02, bf16)[0].item<double>();

  rlhf::NamedTensors mixed = {{"w", torch::full({4}, 0.02, bf16).requires_grad_(true)}};
  rlhf::MasterWeights probe(mixed);
  EXPECT_TRUE(probe.mixed());
  EXPECT_EQ(probe.params()[0].first, "w");
  EXPECT_EQ(probe.params()[0].second.scalar_type(), torch::kFloat);
  train(mixed, steps, lr);

  const double expected = start - steps * lr / (1.0 + 1e-8);
  const double moved = mixed[0].second[0].item<double>();
  EXPECT_EQ(mixed[0].second.scalar_type(), torch::kBFloat16);
  // The model weight is the float32 result rounded to bfloat16: 0.0198 rounds to 0.019775…
  EXPECT_DOUBLE_EQ(moved, torch::tensor(expected).to(torch::kBFloat16).item<double>());
  EXPECT_LT(moved, start);

  // The same steps on the bfloat16 tensor itself round every update away.
  auto plain = torch::full({4}, 0.02, bf16).requires_grad_(true);
  auto adamw = rlhf::make_adamw({{"w", plain}}, adamw_at(lr));
  for (int s = 0; s < steps; ++s) {
    plain.mutable_grad() = torch::ones_like(plain);
    adamw->step();
    adamw->zero_grad();
  }
  EXPECT_DOUBLE_EQ(plain[0].item<double>(), start);
}

TEST(MasterWeights, MastersFollowTheFloat32RunAndReleaseGradients) {
  const double lr = 1e-6;
  rlhf::NamedTensors mixed = {{"w", torch::full({3}, 0.02, torch::kBFloat16).requires_grad_(true)}};
  rlhf::MasterWeights masters(mixed);
  auto adamw = rlhf::make_adamw(masters.params(), adamw_at(lr));
  // The float32 run from the same (bfloat16-rounded) start.
  auto reference = mixed[0].second.detach().to(torch::kFloat).requires_grad_(true);
  auto reference_adamw = rlhf::make_adamw({{"w", reference}}, adamw_at(lr));
  for (int s = 0; s < 50; ++s) {
    const auto g = torch::tensor({1.0, -0.5, 0.25}).to(torch::kBFloat16);
    mixed[0].second.mutable_grad() = g;
    reference.mutable_grad() = g.to(torch::kFloat);
    masters.take_gradients();
    EXPECT_FALSE(mixed[0].second.grad().defined()) << "the bfloat16 gradient is released";
    ASSERT_TRUE(masters.params()[0].second.grad().defined());
    EXPECT_EQ(masters.params()[0].second.grad().scalar_type(), torch::kFloat);
    adamw->step();
    masters.write_back();
    EXPECT_FALSE(masters.params()[0].second.grad().defined());
    reference_adamw->step();
  }
  EXPECT_TRUE(masters.params()[0].second.equal(reference.detach()));
  EXPECT_TRUE(mixed[0].second.equal(reference.detach().to(torch::kBFloat16)));
}

TEST(MasterWeights, Float32TensorsAreTheirOwnMasters) {
  auto w = torch::ones({2, 2}).requires_grad_(true);
  rlhf::NamedTensors trainable = {{"lora_A", w}};
  rlhf::MasterWeights masters(trainable);
  EXPECT_FALSE(masters.mixed());
  EXPECT_TRUE(masters.params()[0].second.is_same(w));
  w.mutable_grad() = torch::full({2, 2}, 3.0);
  masters.take_gradients();
  masters.write_back();
  ASSERT_TRUE(w.grad().defined()) << "a float32 tensor keeps its gradient for the optimizer";
  EXPECT_TRUE(w.grad().equal(torch::full({2, 2}, 3.0)));
}

}  // namespace
