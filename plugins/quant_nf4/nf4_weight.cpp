#include "nf4_weight.hpp"

#include <torch/autograd.h>

#include "quant_state.hpp"
#include "rlhf/error.hpp"

namespace rlhf::nf4 {
namespace {

// y = x @ Wᵀ with W dequantized on the fly; saves only the 4-bit storage (references, not
// copies) and the float32 block scales, never W.
struct NF4Matmul : torch::autograd::Function<NF4Matmul> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& packed, const torch::Tensor& absmax,
                               const torch::Tensor& quant_map, std::int64_t out_features,
                               std::int64_t in_features, std::int64_t blocksize) {
    ctx->saved_data["packed"] = packed;
    ctx->saved_data["absmax"] = absmax;
    ctx->saved_data["quant_map"] = quant_map;
    ctx->saved_data["out"] = out_features;
    ctx->saved_data["in"] = in_features;
    ctx->saved_data["blocksize"] = blocksize;
    const torch::Tensor w = nf4_dequantize(packed, absmax, quant_map, out_features * in_features,
                                           blocksize, x.scalar_type())
                                .view({out_features, in_features});
    return torch::matmul(x, w.t());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor& grad_y = grads[0];
    const std::int64_t out_features = ctx->saved_data["out"].toInt();
    const std::int64_t in_features = ctx->saved_data["in"].toInt();
    const torch::Tensor w =
        nf4_dequantize(ctx->saved_data["packed"].toTensor(), ctx->saved_data["absmax"].toTensor(),
                       ctx->saved_data["quant_map"].toTensor(), out_features * in_features,
                       ctx->saved_data["blocksize"].toInt(), grad_y.scalar_type())
            .view({out_features, in_features});
    // One gradient slot per forward argument; only x gets one.
    return {torch::matmul(grad_y, w), {}, {}, {}, {}, {}, {}};
  }
};

void expect(bool ok, const std::string& name, const std::string& what) {
  if (!ok) throw Error("nf4: weight '" + name + "': " + what);
}

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

NF4Weight::NF4Weight(NF4Storage s, const std::string& name)
    : out_(s.out_features), in_(s.in_features), blocksize_(s.blocksize), dtype_(s.dtype) {
  expect(out_ > 0 && in_ > 0, name, "shape must be positive");
  expect(
      is_supported_blocksize(blocksize_), name,
      "unsupported blocksize " + std::to_string(blocksize_) + " (powers of two from 32 to 4096)");
  dtype_name(dtype_);  // throws for an unsupported dtype
  const std::int64_t n = out_ * in_;
  const std::int64_t blocks = (n + blocksize_ - 1) / blocksize_;
  expect(s.packed.defined() && s.packed.scalar_type() == torch::kUInt8 &&
             s.packed.numel() == (n + 1) / 2,
         name,
         "packed weight must be uint8 with " + std::to_string((n + 1) / 2) + " elements, got " +
             (s.packed.defined() ? shape_of(s.packed) : "none"));
  expect(s.quant_map.defined() && s.quant_map.numel() == 16, name, "quant_map must have 16 values");
  const auto absmax_type = s.nested ? torch::kUInt8 : torch::kFloat32;
  expect(s.absmax.defined() && s.absmax.scalar_type() == absmax_type && s.absmax.numel() == blocks,
         name,
         std::string("absmax must be ") + (s.nested ? "uint8 codes" : "float32") + " with " +
             std::to_string(blocks) + " elements, got " +
             (s.absmax.defined() ? shape_of(s.absmax) + " " + c10::toString(s.absmax.scalar_type())
                                 : "none"));
  packed_ = register_buffer("packed", s.packed.reshape({(n + 1) / 2, 1}));
  absmax_ = register_buffer("absmax", s.absmax.reshape({blocks}));
  quant_map_ = register_buffer("quant_map", s.quant_map.to(torch::kFloat32).reshape({16}));
  if (s.nested) {
    const std::int64_t nested_blocks = (blocks + kNestedBlocksize - 1) / kNestedBlocksize;
    expect(s.nested->nested_absmax.defined() && s.nested->nested_absmax.numel() == nested_blocks,
           name, "nested_absmax must have " + std::to_string(nested_blocks) + " elements");
    expect(s.nested->nested_quant_map.defined() && s.nested->nested_quant_map.numel() == 256, name,
           "nested_quant_map must have 256 values");
    nested_absmax_ =
        register_buffer("nested_absmax", s.nested->nested_absmax.to(torch::kFloat32).reshape({-1}));
    nested_quant_map_ = register_buffer(
        "nested_quant_map", s.nested->nested_quant_map.to(torch::kFloat32).reshape({-1}));
    nested_offset_ = s.nested->offset;
  }
}

torch::Tensor NF4Weight::absmax_float() const {
  if (!nested_offset_) return absmax_;
  return double_dequantize(
      DoubleQuantState{absmax_, nested_absmax_, nested_quant_map_, *nested_offset_});
}

torch::Tensor NF4Weight::forward(const torch::Tensor& x) const {
  return NF4Matmul::apply(x, packed_, absmax_float(), quant_map_, out_, in_, blocksize_);
}

torch::Tensor NF4Weight::dense(torch::ScalarType dtype) const {
  return nf4_dequantize(packed_, absmax_float(), quant_map_, out_ * in_, blocksize_, dtype)
      .view({out_, in_});
}

std::int64_t NF4Weight::storage_bytes() const {
  std::int64_t bytes = 0;
  for (const auto* t : {&packed_, &absmax_, &quant_map_, &nested_absmax_, &nested_quant_map_})
    if (t->defined()) bytes += t->numel() * static_cast<std::int64_t>(t->element_size());
  return bytes;
}

std::string NF4Weight::quant_state_json() const {
  QuantStateInfo info;
  info.blocksize = blocksize_;
  info.dtype = dtype_name(dtype_);
  info.shape = {out_, in_};
  if (nested_offset_) {
    info.nested = true;
    info.nested_blocksize = kNestedBlocksize;
    info.nested_offset = static_cast<double>(*nested_offset_);
  }
  return to_json(info);
}

std::vector<std::pair<std::string, torch::Tensor>> NF4Weight::state_dict(
    const std::string& prefix) const {
  const std::string w = prefix + ".weight";
  std::vector<std::pair<std::string, torch::Tensor>> out = {
      {w, packed_}, {w + ".absmax", absmax_}, {w + ".quant_map", quant_map_}};
  if (nested_offset_) {
    out.emplace_back(w + ".nested_absmax", nested_absmax_);
    out.emplace_back(w + ".nested_quant_map", nested_quant_map_);
  }
  out.emplace_back(w + ".quant_state.bitsandbytes__nf4", json_to_uint8_tensor(quant_state_json()));
  return out;
}

}  // namespace rlhf::nf4
