#include "sft_loss.hpp"

#include <torch/torch.h>

#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::sft {

SftLossOutput sft_loss(const at::Tensor& logits, const at::Tensor& labels) {
  SequenceLogps logps = sequence_logps(logits, labels);
  SftLossOutput out;
  out.loss = mean_token_nll(logps);
  out.completion_tokens = static_cast<std::int64_t>(logps.tokens.sum().item<double>());
  {
    torch::NoGradGuard no_grad;
    const auto T = logits.size(1);
    at::Tensor predicted = logits.narrow(1, 0, T - 1).argmax(-1);
    at::Tensor targets = labels.narrow(1, 1, T - 1);
    at::Tensor mask = targets != kIgnoreIndex;
    double correct = (predicted.eq(targets) & mask).sum().item<double>();
    out.mean_token_accuracy =
        out.completion_tokens > 0 ? correct / static_cast<double>(out.completion_tokens) : 0.0;
  }
  return out;
}

}  // namespace rlhf::sft
