// Test quantizer "test_round": rounds every weight to `decimals` decimal places and keeps it
// dense. Its effect is easy to compute by hand, which is all composition tests need.
#include <cmath>

#include "rlhf/config.hpp"
#include "rlhf/quantizer.hpp"

namespace {

class TestRound : public rlhf::Quantizer {
 public:
  explicit TestRound(const rlhf::Config& config)
      : scale_(std::pow(10.0, config.get<int>("decimals", 1))) {}
  std::shared_ptr<rlhf::LinearWeight> quantize(const torch::Tensor& w, const std::string&,
                                               torch::ScalarType compute_dtype) override {
    return std::make_shared<rlhf::DenseWeight>(
        (w.to(torch::kFloat64) * scale_).round().div(scale_).to(compute_dtype));
  }

 private:
  double scale_;
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::quantizer, TestRound, "test_round", "0.0.1",
            "test only: rounds weights to a number of decimals")
