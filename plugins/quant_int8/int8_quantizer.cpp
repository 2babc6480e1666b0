// The "int8" quantizer: per-row absmax 8-bit base weights (Int8Weight), saved under
// bitsandbytes' 8-bit keys (P.weight int8, P.SCB). No settings.
#include "int8_weight.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"

namespace rlhf::int8 {

class Int8Quantizer : public Quantizer {
 public:
  explicit Int8Quantizer(const Config&) {}

  std::shared_ptr<LinearWeight> quantize(const torch::Tensor& w, const std::string& name,
                                         torch::ScalarType compute_dtype) override {
    int8_dequantize(torch::zeros({1, 1}, torch::kInt8), torch::ones({1}), compute_dtype);
    return Int8Weight::quantize(w, name);
  }

  std::shared_ptr<LinearWeight> load_prequantized(const TensorSource& source,
                                                  const std::string& name,
                                                  torch::ScalarType) override {
    if (!source.contains(name + ".SCB")) return nullptr;
    if (!source.contains(name + ".weight"))
      throw Error("int8: checkpoint has '" + name + ".SCB' but is missing tensor '" + name +
                  ".weight'");
    return std::make_shared<Int8Weight>(source.load(name + ".weight"), source.load(name + ".SCB"),
                                        name);
  }

  std::string quantization_config_json() const override {
    return "{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": false, \"load_in_8bit\": "
           "true, \"llm_int8_threshold\": 6.0, \"llm_int8_skip_modules\": null}";
  }
};

}  // namespace rlhf::int8

RLHF_PLUGIN(rlhf::PluginKind::quantizer, rlhf::int8::Int8Quantizer, "int8", "1.0.0",
            "per-row absmax int8 base weights (bitsandbytes 8-bit keys, weight-only)")
