#include "nf4_quantizer.hpp"

#include <nlohmann/json.hpp>

#include "nf4_codebook.hpp"
#include "nf4_weight.hpp"
#include "quant_state.hpp"

namespace rlhf::nf4 {

NF4Quantizer::NF4Quantizer(const Config& config)
    : blocksize_(config.get<std::int64_t>("blocksize", 64)),
      double_quant_(config.get<bool>("double_quant", false)),
      blocksize_given_(config.has("blocksize")),
      double_quant_given_(config.has("double_quant")) {
  if (!is_supported_blocksize(blocksize_))
    config.fail("blocksize", "unsupported blocksize " + std::to_string(blocksize_) +
                                 " (powers of two from 32 to 4096)");
}

std::shared_ptr<LinearWeight> NF4Quantizer::quantize(const torch::Tensor& w,
                                                     const std::string& name,
                                                     torch::ScalarType compute_dtype) {
  if (!w.defined() || w.dim() != 2)
    throw Error("nf4: weight '" + name + "' must be a 2-D [out, in] tensor");
  if (!at::isFloatingType(w.scalar_type()))
    throw Error("nf4: weight '" + name + "' has dtype " + c10::toString(w.scalar_type()) +
                "; only floating-point weights can be quantized");
  dtype_name(compute_dtype);  // rejects unsupported compute dtypes
  compute_dtype_ = compute_dtype;
  NF4Blocks blocks = nf4_quantize(w, blocksize_);
  NF4Storage s;
  s.out_features = w.size(0);
  s.in_features = w.size(1);
  s.blocksize = blocksize_;
  s.dtype = compute_dtype;
  s.packed = blocks.packed;
  s.quant_map = torch::tensor(std::vector<float>(nf4_codebook().begin(), nf4_codebook().end()))
                    .to(w.device());
  if (double_quant_) {
    DoubleQuantState dq = double_quantize(blocks.absmax);
    s.absmax = dq.codes;
    s.nested = dq;
  } else {
    s.absmax = blocks.absmax;
  }
  return std::make_shared<NF4Weight>(std::move(s), name);
}

std::shared_ptr<LinearWeight> NF4Quantizer::load_prequantized(const TensorSource& source,
                                                              const std::string& name,
                                                              torch::ScalarType compute_dtype) {
  const std::string w = name + ".weight";
  const std::string state_key = w + ".quant_state.bitsandbytes__nf4";
  if (!source.contains(state_key)) {
    if (source.contains(w + ".quant_state.bitsandbytes__fp4"))
      throw Error("nf4: '" + name +
                  "' is stored as bitsandbytes fp4, which the nf4 quantizer "
                  "does not load");
    if (source.contains(w + ".absmax") || source.contains(w + ".quant_map"))
      throw Error("nf4: checkpoint has 4-bit tensors for '" + name + "' but is missing tensor '" +
                  state_key + "'");
    return nullptr;
  }
  auto require = [&](const std::string& key) {
    if (!source.contains(key))
      throw Error("nf4: checkpoint has '" + state_key + "' but is missing tensor '" + key + "'");
    return source.load(key);
  };
  const QuantStateInfo info =
      parse_quant_state(uint8_tensor_to_string(source.load(state_key)), state_key);
  if (info.quant_type != "nf4")
    throw Error("nf4: '" + state_key + "' has quant_type \"" + info.quant_type + "\", not nf4");
  if (info.shape.size() != 2) throw Error("nf4: '" + state_key + "' must give a 2-D shape");
  if (info.nested && info.nested_blocksize != kNestedBlocksize)
    throw Error("nf4: '" + state_key + "' has nested_blocksize " +
                std::to_string(info.nested_blocksize) + "; only 256 is supported");
  if (blocksize_given_ && info.blocksize != blocksize_)
    throw Error("nf4: blocksize = " + std::to_string(blocksize_) + " was set, but '" + state_key +
                "' has blocksize " + std::to_string(info.blocksize) +
                " (a pre-quantized checkpoint loads as stored: remove blocksize)");
  if (double_quant_given_ && info.nested != double_quant_)
    throw Error(std::string("nf4: double_quant = ") + (double_quant_ ? "true" : "false") +
                " was set, but '" + state_key + "' is " + (info.nested ? "" : "not ") +
                "double-quantized (a pre-quantized checkpoint loads as stored: remove "
                "double_quant)");
  NF4Storage s;
  s.out_features = info.shape[0];
  s.in_features = info.shape[1];
  s.blocksize = info.blocksize;
  s.dtype = dtype_from_name(info.dtype, state_key);
  s.packed = require(w);
  s.absmax = require(w + ".absmax");
  s.quant_map = require(w + ".quant_map");
  if (info.nested) {
    DoubleQuantState dq;
    dq.codes = s.absmax;
    dq.nested_absmax = require(w + ".nested_absmax");
    dq.nested_quant_map = require(w + ".nested_quant_map");
    dq.offset = static_cast<float>(info.nested_offset);
    s.nested = dq;
  }
  compute_dtype_ = compute_dtype;
  return std::make_shared<NF4Weight>(std::move(s), name);
}

std::string NF4Quantizer::contradiction(const std::string& quantization_config_json) const {
  if (!double_quant_given_) return {};
  const auto config = nlohmann::json::parse(quantization_config_json, nullptr, false);
  const bool stored = config.is_object() && config.contains("bnb_4bit_use_double_quant") &&
                      config["bnb_4bit_use_double_quant"] == true;
  if (stored == double_quant_) return {};
  return std::string("double_quant = ") + (double_quant_ ? "true" : "false") +
         ", but bnb_4bit_use_double_quant is " + (stored ? "true" : "false");
}

std::string NF4Quantizer::quantization_config_json() const {
  const std::string dtype = dtype_name(compute_dtype_);
  return std::string("{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, ") +
         "\"load_in_8bit\": false, \"bnb_4bit_quant_type\": \"nf4\", " +
         "\"bnb_4bit_use_double_quant\": " + (double_quant_ ? "true" : "false") +
         ", \"bnb_4bit_compute_dtype\": \"" + dtype + "\", " +
         "\"bnb_4bit_quant_storage\": \"uint8\", \"llm_int8_skip_modules\": null}";
}

}  // namespace rlhf::nf4
