#include "int8_weight.hpp"

#include <torch/autograd.h>

#include "rlhf/error.hpp"

namespace rlhf::int8 {
namespace {

struct Int8Matmul : torch::autograd::Function<Int8Matmul> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cb, const torch::Tensor& scb) {
    ctx->saved_data["cb"] = cb;
    ctx->saved_data["scb"] = scb;
    return torch::matmul(x, int8_dequantize(cb, scb, x.scalar_type()).t());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor w =
        int8_dequantize(ctx->saved_data["cb"].toTensor(), ctx->saved_data["scb"].toTensor(),
                        grads[0].scalar_type());
    return {torch::matmul(grads[0], w), {}, {}};
  }
};

}  // namespace

torch::Tensor int8_dequantize(const torch::Tensor& cb, const torch::Tensor& scb,
                              torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
    throw Error(std::string("int8: unsupported compute dtype ") + c10::toString(dtype) +
                " (float32, bfloat16 or float16)");
  return (cb.to(torch::kFloat32) * scb.unsqueeze(1) * (1.0f / 127.0f)).to(dtype);
}

Int8Weight::Int8Weight(torch::Tensor cb, torch::Tensor scb, const std::string& name) {
  if (!cb.defined() || cb.dim() != 2 || cb.scalar_type() != torch::kInt8)
    throw Error("int8: weight '" + name + "' must be int8 [out, in]");
  if (!scb.defined() || scb.numel() != cb.size(0))
    throw Error("int8: '" + name + ".SCB' must hold one float32 scale per row (" +
                std::to_string(cb.size(0)) + ")");
  cb_ = register_buffer("CB", std::move(cb));
  scb_ = register_buffer("SCB", scb.to(torch::kFloat32).reshape({-1}));
}

std::shared_ptr<Int8Weight> Int8Weight::quantize(const torch::Tensor& w, const std::string& name) {
  if (!w.defined() || w.dim() != 2 || !at::isFloatingType(w.scalar_type()))
    throw Error("int8: weight '" + name + "' must be a 2-D floating-point tensor");
  const torch::Tensor x = w.detach().to(torch::kFloat32);
  const torch::Tensor scb = x.abs().amax(1);
  // An all-zero row has scale 0: its codes are 0 (and dequantize to 0).
  const torch::Tensor safe = torch::where(scb > 0, scb, torch::ones_like(scb));
  const torch::Tensor cb = torch::round(x * (127.0f / safe).unsqueeze(1)).to(torch::kInt8);
  return std::make_shared<Int8Weight>(cb, scb, name);
}

torch::Tensor Int8Weight::forward(const torch::Tensor& x) const {
  return Int8Matmul::apply(x, cb_, scb_);
}

torch::Tensor Int8Weight::dense(torch::ScalarType dtype) const {
  return int8_dequantize(cb_, scb_, dtype);
}

std::vector<std::pair<std::string, torch::Tensor>> Int8Weight::state_dict(
    const std::string& prefix) const {
  return {{prefix + ".weight", cb_}, {prefix + ".SCB", scb_}};
}

}  // namespace rlhf::int8
