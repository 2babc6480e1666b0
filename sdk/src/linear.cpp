#include "rlhf/linear.hpp"

#include "rlhf/error.hpp"

namespace rlhf {

LinearWeight::~LinearWeight() = default;
AdapterLayer::~AdapterLayer() = default;

DenseWeight::DenseWeight(torch::Tensor weight) {
  if (!weight.defined() || weight.dim() != 2)
    throw Error("DenseWeight: expected a 2-D weight [out, in]");
  const bool requires_grad = weight.requires_grad();
  weight_ = register_parameter("weight", std::move(weight), requires_grad);
}

torch::Tensor DenseWeight::forward(const torch::Tensor& x) const {
  const auto w = weight_.scalar_type() == x.scalar_type() ? weight_ : weight_.to(x.scalar_type());
  return torch::matmul(x, w.t());
}

torch::Tensor DenseWeight::dense(torch::ScalarType dtype) const {
  return weight_.detach().to(dtype);
}

std::int64_t DenseWeight::storage_bytes() const {
  return weight_.numel() * static_cast<std::int64_t>(weight_.element_size());
}

std::vector<std::pair<std::string, torch::Tensor>> DenseWeight::state_dict(
    const std::string& prefix) const {
  return {{prefix + ".weight", weight_.detach()}};
}

Linear::Linear(std::shared_ptr<LinearWeight> weight, torch::Tensor bias) : bias_(std::move(bias)) {
  if (!weight) throw Error("Linear: null weight");
  if (bias_.defined()) bias_ = register_parameter("bias", bias_, bias_.requires_grad());
  weight_ = register_module("base", std::move(weight));
}

void Linear::set_weight(std::shared_ptr<LinearWeight> weight) {
  if (!weight) throw Error("Linear: null weight");
  if (weight->in_features() != weight_->in_features() ||
      weight->out_features() != weight_->out_features())
    throw Error("Linear::set_weight: shape [" + std::to_string(weight->out_features()) + ", " +
                std::to_string(weight->in_features()) + "] does not match [" +
                std::to_string(weight_->out_features()) + ", " +
                std::to_string(weight_->in_features()) + "]");
  weight_ = replace_module("base", std::move(weight));
}

void Linear::set_adapter(std::shared_ptr<AdapterLayer> adapter) { adapter_ = std::move(adapter); }

torch::Tensor Linear::forward(const torch::Tensor& x) {
  torch::Tensor y = weight_->forward(x);
  if (bias_.defined()) y = y + bias_.to(y.scalar_type());
  if (adapter_ && adapter_->enabled()) y = y + adapter_->forward(x);
  return y;
}

}  // namespace rlhf
