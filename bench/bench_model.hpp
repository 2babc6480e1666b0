// The ~100M-parameter Llama-shaped model every benchmark measures (model, quantizer and
// training benches), so their numbers in bench/README.md are about the same network:
// hidden 768, 12 layers, 12 heads with 4 key/value heads (GQA), SwiGLU 2048, vocab 32000, tied
// embeddings.
#pragma once

#include "rlhf/toolkit/model_config.hpp"

namespace rlhf::bench {

inline ModelConfig bench_config() {
  ModelConfig c;
  c.vocab_size = 32000;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.tie_word_embeddings = true;
  c.max_position_embeddings = 2048;
  return c;
}

}  // namespace rlhf::bench
