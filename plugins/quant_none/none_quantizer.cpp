// The "none" quantizer: base weights stay dense in the compute dtype. It is what a pipeline
// without a [quantizer] table means, packaged as a plugin so benchmarks compare it with the
// others through the same interface. No settings.
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"

namespace rlhf::none {

class NoneQuantizer : public Quantizer {
 public:
  explicit NoneQuantizer(const Config&) {}

  std::shared_ptr<LinearWeight> quantize(const torch::Tensor& w, const std::string& name,
                                         torch::ScalarType compute_dtype) override {
    if (!w.defined() || w.dim() != 2 || !at::isFloatingType(w.scalar_type()))
      throw Error("none: weight '" + name + "' must be a 2-D floating-point tensor");
    if (!at::isFloatingType(compute_dtype))
      throw Error(std::string("none: unsupported compute dtype ") + c10::toString(compute_dtype) +
                  " for '" + name + "'");
    // Trainable like the weights of a pipeline without [quantizer] (an adapter freezes them).
    return std::make_shared<DenseWeight>(w.detach().to(compute_dtype).requires_grad_(true));
  }

  bool trainable() const override { return true; }
};

}  // namespace rlhf::none

RLHF_PLUGIN(rlhf::PluginKind::quantizer, rlhf::none::NoneQuantizer, "none", "1.0.0",
            "dense base weights in the compute dtype (no quantization; the default)")
