// The "classifier" reward model: scores (prompt, completion) pairs with a reward model saved
// in transformers' LlamaForSequenceClassification layout — a folder the reward stage wrote
// (`<stage>/model`, plugins/reward/) or any such checkpoint with `score.weight` [1, H].
//
//   reward_model = { plugin = "classifier", path = "runs/rm/reward/model" }
//   # batch_size = 8             pairs per forward
//   # dtype = "float32"          "float32" | "bfloat16"; default the stage's [model].dtype
//   # chat_template = "zephyr"   default: the folder's (tokenizer_config.json, when rlhf-host
//   #                            knows it), else the stage's [model].chat_template
//   # max_length = 1024, max_prompt_length = 512   truncation, as the reward stage's defaults
//
// A pair is tokenised exactly as the reward stage tokenises prompt + chosen
// (ChatTemplate::encode: the prompt messages, then the completion as one assistant message with
// its end-of-turn/EOS; then TRL's truncation), with the folder's own tokenizer, and scored by
// last_token_scores (rlhf/toolkit/sequence_classifier.hpp): the same number as the reward stage's
// eval_predictions.jsonl gives it. Batches are left-padded (the score is read at the last real
// token either way), run under no-grad with the model in eval mode.
//
// The constructor only reads the keys (`rlhf-host --check` constructs plugins); setup() loads
// the folder and throws rlhf::Error naming it when it is not a one-score classifier.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rlhf/reward_model.hpp"
#include "rlhf/toolkit/chat_template.hpp"

namespace rlhf {
class CausalLM;
class Config;
class Tokenizer;
}  // namespace rlhf

namespace rlhf::reward_classifier {

class ClassifierRewardModel : public RewardModel {
 public:
  explicit ClassifierRewardModel(const Config& config);
  void setup(StageContext& ctx) override;
  torch::Tensor score(const std::vector<Example>& prompts,
                      const std::vector<std::string>& completions) override;

  // The token ids score() runs for one pair (tests compare them with the reward stage's).
  PromptCompletionIds tokenize(const Example& prompt, const std::string& completion) const;

 private:
  std::string path_;
  std::int64_t batch_size_ = 8;
  std::optional<std::string> dtype_;
  std::optional<std::string> chat_template_;
  std::int64_t max_length_ = 1024;
  std::int64_t max_prompt_length_ = 512;

  std::shared_ptr<CausalLM> model_;
  std::shared_ptr<Tokenizer> tokenizer_;
  ChatTemplate template_ = ChatTemplate::get("none");
};

}  // namespace rlhf::reward_classifier
