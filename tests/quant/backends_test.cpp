// The "none" and "int8" quantizers, instantiated from the built plugin libraries through the
// host's registry (as a pipeline or bench-quant does).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "plugin_registry.hpp"
#include "rlhf/config.hpp"
#include "rlhf/quantizer.hpp"

namespace {

std::shared_ptr<rlhf::Quantizer> make(rlhf::host::PluginRegistry& reg, const std::string& name) {
  return reg.create<rlhf::Quantizer>(rlhf::PluginKind::quantizer, name, rlhf::Config::parse(""));
}

class MapSource : public rlhf::TensorSource {
 public:
  explicit MapSource(std::vector<std::pair<std::string, torch::Tensor>> t) : t_(std::move(t)) {}
  bool contains(const std::string& n) const override {
    for (const auto& [k, v] : t_)
      if (k == n) return true;
    return false;
  }
  torch::Tensor load(const std::string& n) const override {
    for (const auto& [k, v] : t_)
      if (k == n) return v.clone();
    throw rlhf::Error("absent " + n);
  }
  std::vector<std::pair<std::string, torch::Tensor>> t_;
};

}  // namespace

TEST(QuantBackends, AllThreeAreInstalled) {
  rlhf::host::PluginRegistry reg({RLHF_PLUGIN_DIR});
  const auto names = reg.names(rlhf::PluginKind::quantizer);
  for (const char* n : {"int8", "nf4", "none"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

TEST(QuantBackends, NoneKeepsTheDenseWeightInTheComputeDtype) {
  rlhf::host::PluginRegistry reg({RLHF_PLUGIN_DIR});
  auto q = make(reg, "none");
  torch::manual_seed(20);
  const torch::Tensor w = torch::randn({6, 10});
  auto d = q->quantize(w, "P", torch::kFloat32);
  EXPECT_EQ(d->format(), "dense");
  EXPECT_TRUE(torch::equal(d->dense(), w));
  EXPECT_EQ(d->storage_bytes(), 6 * 10 * 4);
  EXPECT_EQ(q->quantize(w, "P", torch::kBFloat16)->storage_bytes(), 6 * 10 * 2);
  EXPECT_EQ(q->quantization_config_json(), "");
}

TEST(QuantBackends, Int8PerRowAbsmaxRoundTripAndKeys) {
  rlhf::host::PluginRegistry reg({RLHF_PLUGIN_DIR});
  auto q = make(reg, "int8");
  torch::manual_seed(21);
  torch::Tensor w = torch::randn({8, 16});
  w[3].zero_();  // an all-zero row
  auto iw = q->quantize(w, "P", torch::kFloat32);
  EXPECT_EQ(iw->format(), "int8");
  EXPECT_EQ(iw->storage_bytes(), 8 * 16 + 8 * 4);
  const auto sd = iw->state_dict("P");
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "P.weight");
  EXPECT_EQ(sd[0].second.scalar_type(), torch::kInt8);
  EXPECT_EQ(sd[1].first, "P.SCB");
  // SCB is the row absmax; the largest magnitude of each row is stored as ±127.
  EXPECT_TRUE(torch::equal(sd[1].second, w.abs().amax(1)));
  for (std::int64_t r = 0; r < 8; ++r)
    if (r != 3) {
      EXPECT_EQ(sd[0].second[r].abs().max().item<std::int8_t>(), 127) << r;
    }
  EXPECT_EQ(sd[0].second[3].abs().max().item<std::int8_t>(), 0);
  // Rounding error at most half a step (SCB / 254) per element.
  const torch::Tensor err = (iw->dense() - w).abs();
  const torch::Tensor bound = (w.abs().amax(1) / 254.0f + 1e-7f).unsqueeze(1);
  EXPECT_TRUE((err <= bound).all().item<bool>());
  // Loads back as-is.
  MapSource src(sd);
  auto loaded = q->load_prequantized(src, "P", torch::kFloat32);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(torch::equal(loaded->dense(), iw->dense()));
  EXPECT_EQ(q->load_prequantized(MapSource({{"P.weight", w}}), "P", torch::kFloat32), nullptr);
}

TEST(QuantBackends, Int8ForwardBackwardGradientForXOnly) {
  rlhf::host::PluginRegistry reg({RLHF_PLUGIN_DIR});
  auto iw = make(reg, "int8")->quantize(torch::randn({12, 20}), "P", torch::kFloat32);
  const torch::Tensor W = iw->dense();
  const torch::Tensor x = torch::randn({4, 20}, torch::requires_grad());
  const torch::Tensor y = iw->forward(x);
  EXPECT_TRUE(torch::allclose(y, x.detach().matmul(W.t()), 1e-5, 1e-6));
  const torch::Tensor g = torch::randn({4, 12});
  (y * g).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), g.matmul(W), 1e-5, 1e-6));
  EXPECT_TRUE(iw->parameters().empty());
}
