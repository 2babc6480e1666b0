#include "sft_loss.hpp"

#include <torch/torch.h>

#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::sft {

SftLossOutput sft_loss(const CompletionLogits& completion) {
  SequenceLogps logps = sequence_logps(completion);
  SftLossOutput out;
  out.loss = mean_token_nll(logps);
  out.completion_tokens = completion.targets.size(0);
  {
    torch::NoGradGuard no_grad;
    const double correct = completion.logits.argmax(-1).eq(completion.targets).sum().item<double>();
    out.mean_token_accuracy =
        out.completion_tokens > 0 ? correct / static_cast<double>(out.completion_tokens) : 0.0;
  }
  return out;
}

}  // namespace rlhf::sft
