// Which checkpoint tensors a model load used (docs/reliability.md, family "model loading").
//
// A tensor of the checkpoint that the model config does not describe (a layer beyond
// num_hidden_layers, biases the config turns off) would be missing from every result saved
// from it. The loader reads the checkpoint through a TrackedCheckpoint and then calls
// check_all_tensors_used(), which makes such a tensor an error.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "rlhf/toolkit/model_config.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf {

class CausalLM;

// The checkpoint as the model constructor and the quantizer see it, remembering every tensor
// they asked for: what is left over afterwards was not loaded.
class TrackedCheckpoint : public TensorSource {
 public:
  explicit TrackedCheckpoint(const SafetensorsCheckpoint& checkpoint) : checkpoint_(checkpoint) {}
  bool contains(const std::string& name) const override {
    if (!checkpoint_.contains(name)) return false;
    asked_.insert(name);
    return true;
  }
  torch::Tensor load(const std::string& name) const override {
    asked_.insert(name);
    return checkpoint_.load(name);
  }
  // Counts `name` as used without reading it (`rlhf-host --check`: check_causal_lm).
  void mark(const std::string& name) const { asked_.insert(name); }
  bool asked(const std::string& name) const { return asked_.count(name) > 0; }

 private:
  const SafetensorsCheckpoint& checkpoint_;
  mutable std::set<std::string> asked_;
};

// Throws rlhf::Error naming the file, the count and the first unused tensors (with the layer
// count when the checkpoint has more layers than the config). Exempt: rotary inv_freq buffers
// (recomputed from rope_theta), the state tensors of a module a quantizer loaded pre-quantized
// (`prequantized`: "<module>.weight.absmax", "<module>.SCB" …, not "<module>.bias"), and a tied
// lm_head.weight equal to the embeddings. transformers only warns ("Some weights of the model
// checkpoint were not used"); rlhf-host saves models, so it refuses.
void check_all_tensors_used(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
                            const TrackedCheckpoint& tracked,
                            const std::vector<std::string>& prequantized);

// A *ForSequenceClassification checkpoint without lm_head.weight (transformers writes none)
// loads with the embeddings as its output projection: sets tie_word_embeddings
// (sdk/src/sequence_classifier.cpp).
void prepare_sequence_classifier_config(ModelConfig& config,
                                        const SafetensorsCheckpoint& checkpoint);

// When the checkpoint has `score.weight`, checks it is [1, hidden_size] and floating-point
// (rlhf::Error naming the file otherwise) and attaches it as the model's score head
// (rlhf/toolkit/sequence_classifier.hpp); `weightless` (--check) reads nothing and attaches an
// unallocated head.
void attach_checkpoint_score_head(CausalLM& model, const SafetensorsCheckpoint& checkpoint,
                                  const TrackedCheckpoint& tracked, bool weightless);

}  // namespace rlhf
