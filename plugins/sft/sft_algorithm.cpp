#include "sft_algorithm.hpp"

#include "rlhf/config.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/logprobs.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "sft_loss.hpp"

namespace rlhf::sft {

SftAlgorithm::SftAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL SFTConfig
  defaults.learning_rate = 2e-5;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  training_ = TrainingConfig::read(config, defaults);
}

void SftAlgorithm::run(StageContext& ctx) {
  Stage stage = start_stage(ctx, training_);
  if (stage.completed) return;
  auto rows = tokenize_stage<PromptCompletionIds>(
      ctx, stage, [&](const Example& example, std::vector<PromptCompletionIds>& out) {
        out.push_back(
            tokenize_completion(example, *stage.tokenizer, stage.chat_template, training_));
      });
  const std::int64_t pad_id = stage.tokenizer->pad_id();

  TrainingTask task = stage.task(rows);
  task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    std::vector<PromptCompletionIds> picked;
    std::int64_t tokens = 0;
    for (auto i : indices) {
      picked.push_back(rows.of(split).at(i));
      tokens +=
          static_cast<std::int64_t>(picked.back().prompt.size() + picked.back().completion.size());
    }
    Batch batch = collate(picked, pad_id);
    const CompletionLogits completion = completion_logits(*stage.model, batch);
    SftLossOutput loss = sft_loss(completion);
    StepOutput out{loss.loss, {{"mean_token_accuracy", loss.mean_token_accuracy}}, tokens, {}};
    if (training_.eval_only) {
      SequenceLogps logps = sequence_logps(completion);
      out.predictions = {{"completion_logps", logps.sum.detach().to(torch::kCPU)},
                         {"completion_tokens", logps.tokens.to(torch::kCPU).to(torch::kLong)}};
    }
    return out;
  };
  finish_stage(ctx, stage, task, rows);
}

}  // namespace rlhf::sft
