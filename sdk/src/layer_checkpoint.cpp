// Gradient checkpointing of one decoder layer (the "reentrant" scheme of
// torch.utils.checkpoint): forward runs without building a graph and keeps only the layer
// input; backward recomputes the layer with grad enabled and back-propagates through it, which
// accumulates parameter gradients (base weights, biases, adapters) directly into their .grad.
#include "causal_lm_impl.hpp"

namespace rlhf::detail {

namespace {

struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               torch::Tensor cos, torch::Tensor sin, torch::Tensor blocked,
                               std::int64_t layer_address) {
    ctx->save_for_backward({x, cos, sin, blocked});
    ctx->saved_data["layer"] = layer_address;
    auto* layer = reinterpret_cast<DecoderLayer*>(layer_address);
    // `blocked` is this layer's own mask (with or without the sliding window): both slots.
    return layer->forward(x, AttentionInputs{cos, sin, blocked, blocked});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayer*>(ctx->saved_data["layer"].toInt());
    torch::AutoGradMode enable(true);
    torch::Tensor x = saved[0].detach().requires_grad_(true);
    torch::Tensor y = layer->forward(x, AttentionInputs{saved[1], saved[2], saved[3], saved[3]});
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpointed_layer(DecoderLayer& layer, const torch::Tensor& x,
                                 const AttentionInputs& in) {
  // With frozen embeddings (LoRA, QLoRA) the first layer's input needs no gradient, and a
  // Function none of whose inputs needs one records no backward: the adapters inside would
  // never train (the loss would have no grad_fn). So the input is made to need one, as PEFT's
  // enable_input_require_grads does for the same reason.
  torch::Tensor input = x;
  if (torch::GradMode::is_enabled() && !x.requires_grad()) input = x.detach().requires_grad_(true);
  const torch::Tensor& blocked =
      layer.self_attn->sliding_window ? in.blocked_in_window : in.blocked;
  return CheckpointedLayer::apply(input, in.cos, in.sin, blocked,
                                  reinterpret_cast<std::int64_t>(&layer));
}

}  // namespace rlhf::detail
