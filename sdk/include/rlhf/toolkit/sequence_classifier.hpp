// A scalar head on a CausalLM: transformers' LlamaForSequenceClassification with num_labels = 1
// (docs/formats.md, "Llama / Mistral checkpoints": `score.weight [num_labels, H]`, read at the
// last non-pad token). The reward stage (plugins/reward/) trains it and the `classifier` reward
// model (plugins/reward_classifier/) scores with it; both go through these functions, so a
// completion gets the same number from either.
//
// The head lives on the model it reads: a child module "score" of the CausalLM holding one
// float32 parameter "weight" [1, H] (so model.named_parameters() lists "score.weight"). It
// therefore survives from one pipeline stage to the next with the policy, and a full fine-tune
// trains it with every other parameter.
#pragma once

#include <filesystem>
#include <memory>

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"

namespace rlhf {

// The head attached to `model`, or an undefined tensor when it has none.
torch::Tensor score_head(const CausalLM& model);

// Attaches a head to `model` (or, when it has one, copies `weight` into it) and returns it:
// float32 on the model's device, requires_grad. `weight` must be [1, H]; another shape throws
// rlhf::Error.
torch::Tensor attach_score_head(CausalLM& model, const torch::Tensor& weight);

// A fresh head drawn as transformers' _init_weights draws a Linear: normal(0, std) with std =
// initializer_range (0.02, what ModelConfig::to_json writes), from torch's global generator
// (the host seeds it before each stage). On a weightless model (meta device, --check) nothing is
// drawn.
torch::Tensor init_score_head(CausalLM& model, double std = 0.02);

// The index of the last real token of each row of `attention_mask` [B, T] (1 = real; left or
// right padding): [B] int64. A row without a real token throws rlhf::Error.
torch::Tensor last_token_index(const torch::Tensor& attention_mask);

// One score per row: the final hidden state at the row's last real token (attention mask),
// times `score_weight` [1, H], computed in float32: [B] float32, differentiable with respect to
// the head and the model. transformers finds the end of a row from input_ids != pad_token_id
// instead, which differs only when a row ends with the pad token itself (pad = EOS and the
// completion ends with EOS: transformers reads the token before that EOS).
torch::Tensor last_token_scores(CausalLM& model, const torch::Tensor& score_weight,
                                const Batch& batch);

// The model's weights with adapter deltas folded in, under transformers' names, without
// lm_head (a SequenceClassification model has none) and with "score.weight" [1, H] last. An
// AdapterLayer attached to a projection (e.g. LoRA) is folded as W + delta(I)ᵀ computed in
// float32 (linear.hpp), so any adapter kind merges; a quantized projection is dequantized. The
// model itself is not changed.
std::vector<std::pair<std::string, torch::Tensor>> sequence_classifier_state_dict(
    const CausalLM& model, const torch::Tensor& score_weight);

// Writes `dir` as transformers' save_pretrained writes a LlamaForSequenceClassification
// (MistralForSequenceClassification for a Mistral model): config.json with "architectures",
// num_labels 1, id2label {"0": "LABEL_0"}, label2id {"LABEL_0": 0}, and model.safetensors from
// sequence_classifier_state_dict (sharded above 5 GiB) in the model's dtype (the head in
// float32). Files are written under temporary names and renamed, into `dir` as it is (a
// stage passes a fresh staging folder: shards of an earlier save are not removed). Tokenizer
// files are the caller's (a stage completes the folder like every saved model folder).
void save_sequence_classifier(const CausalLM& model, const torch::Tensor& score_weight,
                              const std::filesystem::path& dir);

// Loads a SequenceClassification folder (load_causal_lm: a checkpoint without lm_head.weight
// gets the embeddings as its output projection) and returns the model with its head attached.
// No `score.weight`, or one that is not [1, hidden_size] (num_labels ≠ 1), throws rlhf::Error
// naming the folder.
std::shared_ptr<CausalLM> load_sequence_classifier(const std::filesystem::path& dir,
                                                   const LoadOptions& options = {});

}  // namespace rlhf
