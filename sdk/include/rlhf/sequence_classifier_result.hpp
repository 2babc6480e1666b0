// The result of a stage that trains a score head (the reward stage, plugins/reward/): what it
// saves and what --resume loads back. The head and its math: rlhf/toolkit/sequence_classifier.hpp.
//
// Layout under ctx.stage_dir (docs/formats.md, "Reward model folders"):
//   model/     transformers' LlamaForSequenceClassification (save_sequence_classifier): the
//              policy's weights with the adapter's deltas folded in, no lm_head, score.weight
//              [1, H], plus the tokenizer files every saved model folder has
//              (tokenizer_config.json with the stage's chat template, …). Loads with
//              AutoModelForSequenceClassification and as the `classifier` reward model's `path`.
//   adapter/   only with an adapter: the PEFT folder (AutoPeftModelForSequenceClassification)
//              — task_type "SEQ_CLS", modules_to_save ["score"], and the head under PEFT's key
//              for a module to save, "base_model.model.score.weight" (PEFT's
//              get_peft_model_state_dict drops "modules_to_save.default" from the in-memory
//              name), next to the adapter's own tensors.
//   stage_complete.json  {"result": "model"}, written last.
// Each folder is written under a temporary name and swapped in whole
// (rlhf/toolkit/replace_dir.hpp).
#pragma once

#include <filesystem>

#include <ATen/core/Tensor.h>

namespace rlhf {

class CausalLM;
struct StageContext;

// PEFT's name of the score head in a SEQ_CLS adapter's adapter_model.safetensors.
inline constexpr const char* kPeftScoreKey = "base_model.model.score.weight";

// Writes the folders above and the marker; returns the model/ folder. A failed write throws
// rlhf::Error naming the file and leaves the previous result (if any) in place.
std::filesystem::path save_sequence_classifier_result(StageContext& ctx, CausalLM& model,
                                                      const at::Tensor& score_weight);

// With ctx.resume and the stage's stage_complete.json: loads the saved result into the policy
// and its head (adapter/ with an adapter, else every weight of model/) and returns true.
bool restore_sequence_classifier_result(StageContext& ctx, CausalLM& model,
                                        const at::Tensor& score_weight);

}  // namespace rlhf
