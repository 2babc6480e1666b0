// CausalLM: construction, the decoder forward (with and without KV cache), the HF state dict.
// Attention and RMSNorm: attention.cpp; rotary tables: rotary.cpp; loading: causal_lm_load.cpp.
#include "rlhf/toolkit/causal_lm.hpp"

#include "causal_lm_impl.hpp"
#include "rlhf/error.hpp"

namespace rlhf {

namespace {

// HF `_init_weights`: normal(0, initializer_range) for linears and embeddings, ones for norms,
// zeros for biases and for the pad row of the embeddings.
WeightInit random_init(const ModelConfig& config, torch::ScalarType dtype) {
  WeightInit init;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  init.tensor = [config, dtype, opts](const std::string& name,
                                      const std::vector<std::int64_t>& shape) {
    torch::Tensor t;
    if (name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0) {
      t = torch::ones(shape, opts);
    } else if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      t = torch::zeros(shape, opts);
    } else {
      t = torch::empty(shape, opts).normal_(0.0, 0.02);
      if (name == "model.embed_tokens.weight" && config.pad_token_id && *config.pad_token_id >= 0 &&
          *config.pad_token_id < shape[0])
        t[*config.pad_token_id].zero_();
    }
    return t.to(dtype).requires_grad_(true);
  };
  init.linear = [dtype, opts](const std::string&, std::int64_t out, std::int64_t in) {
    return std::make_shared<DenseWeight>(
        torch::empty({out, in}, opts).normal_(0.0, 0.02).to(dtype).requires_grad_(true));
  };
  return init;
}

std::shared_ptr<Linear> make_linear(const WeightInit& init, const std::string& module,
                                    std::int64_t out, std::int64_t in, bool bias) {
  auto weight = init.linear(module, out, in);
  if (!weight || weight->out_features() != out || weight->in_features() != in)
    throw Error(module + ": weight shape does not match the config ([" + std::to_string(out) +
                ", " + std::to_string(in) + "] expected)");
  return std::make_shared<Linear>(std::move(weight),
                                  bias ? init.tensor(module + ".bias", {out}) : torch::Tensor());
}

}  // namespace

CausalLM::CausalLM(const ModelConfig& config, torch::ScalarType dtype)
    : CausalLM(config, dtype, random_init(config, dtype)) {}

CausalLM::CausalLM(const ModelConfig& config, torch::ScalarType dtype, const WeightInit& init)
    : config_(config), dtype_(dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
    throw Error(std::string("CausalLM: unsupported dtype ") + c10::toString(dtype) +
                " (float32, bfloat16 or float16)");
  const auto H = config.hidden_size, I = config.intermediate_size, hd = config.head_dim;
  const auto nh = config.num_attention_heads, nkv = config.num_key_value_heads;
  impl = std::make_shared<Impl>();
  auto backbone = std::make_shared<detail::Backbone>();
  backbone->embed_tokens = backbone->register_module(
      "embed_tokens", std::make_shared<detail::EmbedTokens>(
                          init.tensor("model.embed_tokens.weight", {config.vocab_size, H})));
  backbone->layers = backbone->register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto layer = std::make_shared<detail::DecoderLayer>();
    layer->input_layernorm = layer->register_module(
        "input_layernorm",
        std::make_shared<detail::RMSNorm>(init.tensor(p + "input_layernorm.weight", {H}),
                                          config.rms_norm_eps));
    auto attn = std::make_shared<detail::Attention>();
    attn->num_heads = nh;
    attn->num_kv_heads = nkv;
    attn->head_dim = hd;
    attn->sliding_window = config.layer_uses_sliding_window(i);
    const bool ab = config.attention_bias, qkv = ab || config.qkv_bias;
    attn->q_proj =
        attn->register_module("q_proj", make_linear(init, p + "self_attn.q_proj", nh * hd, H, qkv));
    attn->k_proj = attn->register_module(
        "k_proj", make_linear(init, p + "self_attn.k_proj", nkv * hd, H, qkv));
    attn->v_proj = attn->register_module(
        "v_proj", make_linear(init, p + "self_attn.v_proj", nkv * hd, H, qkv));
    attn->o_proj =
        attn->register_module("o_proj", make_linear(init, p + "self_attn.o_proj", H, nh * hd, ab));
    layer->self_attn = layer->register_module("self_attn", attn);
    layer->post_attention_layernorm = layer->register_module(
        "post_attention_layernorm",
        std::make_shared<detail::RMSNorm>(init.tensor(p + "post_attention_layernorm.weight", {H}),
                                          config.rms_norm_eps));
    auto mlp = std::make_shared<detail::MLP>();
    const bool mb = config.mlp_bias;
    mlp->gate_proj =
        mlp->register_module("gate_proj", make_linear(init, p + "mlp.gate_proj", I, H, mb));
    mlp->up_proj = mlp->register_module("up_proj", make_linear(init, p + "mlp.up_proj", I, H, mb));
    mlp->down_proj =
        mlp->register_module("down_proj", make_linear(init, p + "mlp.down_proj", H, I, mb));
    layer->mlp = layer->register_module("mlp", mlp);
    backbone->layers->push_back(layer);
    backbone->layer_list.push_back(layer);
  }
  backbone->norm = backbone->register_module(
      "norm", std::make_shared<detail::RMSNorm>(init.tensor("model.norm.weight", {H}),
                                                config.rms_norm_eps));
  impl->model = register_module("model", backbone);
  if (!config.tie_word_embeddings)
    impl->lm_head =
        register_module("lm_head", make_linear(init, "lm_head", config.vocab_size, H, false));
}

namespace {

// Every layer's attention inputs: rotary tables at the query positions [B, T], `blocked`
// [B, 1, T, Tk] (true = key not visible), and with a sliding window the keys beyond it, measured
// between query positions and key positions [B, Tk].
detail::AttentionInputs attention_inputs(const CausalLM& lm, const torch::Tensor& query_pos,
                                         const torch::Tensor& key_pos,
                                         const torch::Tensor& blocked) {
  const ModelConfig& cfg = lm.config();
  detail::AttentionInputs in;
  detail::rotary_tables(cfg, query_pos, lm.dtype(), in.cos, in.sin);
  in.blocked = blocked;
  if (cfg.sliding_window) {
    // Mistral (every layer) and Qwen2 (layers from max_window_layers on): a query sees at most
    // `sliding_window` keys, itself included.
    const auto T = query_pos.size(1), Tk = key_pos.size(1);
    const torch::Tensor distance = query_pos.view({-1, 1, T, 1}) - key_pos.view({-1, 1, 1, Tk});
    in.blocked_in_window = in.blocked | (distance >= *cfg.sliding_window);
  }
  return in;
}

// The decoder layers and final norm on new tokens `input_ids` [B, T] after what `cache` holds
// (nullptr = no cache). Returns the final normalised hidden states [B, T, H].
torch::Tensor run_layers(CausalLM& lm, const torch::Tensor& input_ids,
                         const detail::AttentionInputs& in, KVCache* cache, bool checkpointing) {
  const auto& model = *lm.impl->model;
  torch::Tensor h = torch::embedding(model.embed_tokens->weight, input_ids);
  const auto L = static_cast<std::size_t>(lm.config().num_hidden_layers);
  if (cache && cache->keys.size() != L) {
    cache->keys.assign(L, torch::Tensor());
    cache->values.assign(L, torch::Tensor());
  }
  const bool use_checkpointing = checkpointing && !cache && torch::GradMode::is_enabled();
  for (std::size_t i = 0; i < L; ++i) {
    auto& layer = *model.layer_list[i];
    if (cache) {
      h = layer.forward(h, in, cache->keys[i], cache->values[i], &cache->keys[i],
                        &cache->values[i]);
    } else if (use_checkpointing) {
      h = detail::checkpointed_layer(layer, h, in);
    } else {
      h = layer.forward(h, in);
    }
  }
  return model.norm->forward(h);
}

// The decoder on new tokens `input_ids` [B, T] with their padding mask, after what `cache` holds
// (nullptr = no cache). Returns the final normalised hidden states [B, T, H].
torch::Tensor run_decoder(CausalLM& lm, const torch::Tensor& input_ids,
                          const torch::Tensor& attention_mask, KVCache* cache, bool checkpointing) {
  if (input_ids.dim() != 2 || attention_mask.sizes() != input_ids.sizes())
    throw Error("CausalLM::forward: input_ids and attention_mask must both be [B, T]");
  const auto device = input_ids.device();
  const auto T = input_ids.size(1);
  const torch::Tensor new_mask = attention_mask.to(torch::kInt64);
  const std::int64_t past = cache ? cache->length() : 0;
  const torch::Tensor full_mask =
      past > 0 ? torch::cat({cache->attention_mask.to(device, torch::kInt64), new_mask}, 1)
               : new_mask;
  const auto Tk = full_mask.size(1);

  // Positions count real tokens only: the first non-pad token of a row is position 0.
  const torch::Tensor key_pos = (full_mask.cumsum(1) - 1).clamp_min(0);  // [B, Tk]
  const torch::Tensor query_pos = key_pos.narrow(1, past, T);            // [B, T]
  const auto iopts = torch::TensorOptions().dtype(torch::kInt64).device(device);
  const torch::Tensor q_index = torch::arange(past, past + T, iopts).view({1, 1, T, 1});
  const torch::Tensor k_index = torch::arange(0, Tk, iopts).view({1, 1, 1, Tk});
  const torch::Tensor blocked = (k_index > q_index) | (full_mask == 0).view({-1, 1, 1, Tk});

  torch::Tensor h = run_layers(lm, input_ids, attention_inputs(lm, query_pos, key_pos, blocked),
                               cache, checkpointing);
  if (cache) cache->attention_mask = full_mask;
  return h;
}

}  // namespace

torch::Tensor CausalLM::hidden_states(const torch::Tensor& input_ids,
                                      const torch::Tensor& attention_mask) {
  return run_decoder(*this, input_ids, attention_mask, nullptr, gradient_checkpointing_);
}

torch::Tensor CausalLM::packed_hidden_states(const torch::Tensor& input_ids,
                                             const torch::Tensor& positions,
                                             const torch::Tensor& segments,
                                             const torch::Tensor& branches) {
  if (input_ids.dim() != 2 || positions.sizes() != input_ids.sizes() ||
      segments.sizes() != input_ids.sizes() || branches.sizes() != input_ids.sizes())
    throw Error(
        "CausalLM::packed_hidden_states: input_ids, positions, segments and branches must be "
        "[B, T]");
  const auto T = input_ids.size(1);
  const auto iopts = torch::TensorOptions().dtype(torch::kInt64).device(input_ids.device());
  const torch::Tensor pos = positions.to(torch::kInt64);
  const torch::Tensor index = torch::arange(0, T, iopts);
  const torch::Tensor key_segment = segments.to(torch::kInt64).view({-1, 1, 1, T});
  const torch::Tensor query_segment = segments.to(torch::kInt64).view({-1, 1, T, 1});
  const torch::Tensor key_branch = branches.to(torch::kInt64).view({-1, 1, 1, T});
  const torch::Tensor query_branch = branches.to(torch::kInt64).view({-1, 1, T, 1});
  // Query i sees key j ≤ i of its own segment: the shared prefix (branch 0) or its own branch.
  const torch::Tensor visible = (index.view({1, 1, 1, T}) <= index.view({1, 1, T, 1})) &
                                (key_segment >= 0) & (key_segment == query_segment) &
                                ((key_branch == 0) | (key_branch == query_branch));
  return run_layers(*this, input_ids, attention_inputs(*this, pos, pos, ~visible), nullptr,
                    gradient_checkpointing_);
}

torch::Tensor CausalLM::lm_head(const torch::Tensor& hidden) {
  if (impl->lm_head) return impl->lm_head->forward(hidden);
  const auto& w = impl->model->embed_tokens->weight;
  return torch::matmul(
      hidden, (w.scalar_type() == hidden.scalar_type() ? w : w.to(hidden.scalar_type())).t());
}

torch::Tensor CausalLM::forward(const torch::Tensor& input_ids,
                                const torch::Tensor& attention_mask) {
  return lm_head(hidden_states(input_ids, attention_mask));
}

torch::Tensor CausalLM::forward_with_cache(const torch::Tensor& input_ids,
                                           const torch::Tensor& attention_mask, KVCache& cache) {
  return lm_head(run_decoder(*this, input_ids, attention_mask, &cache, false));
}

std::vector<std::pair<std::string, std::shared_ptr<Linear>>> CausalLM::named_linears() const {
  std::vector<std::pair<std::string, std::shared_ptr<Linear>>> out;
  for (std::size_t i = 0; i < impl->model->layer_list.size(); ++i) {
    const auto& layer = *impl->model->layer_list[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "self_attn.q_proj", layer.self_attn->q_proj);
    out.emplace_back(p + "self_attn.k_proj", layer.self_attn->k_proj);
    out.emplace_back(p + "self_attn.v_proj", layer.self_attn->v_proj);
    out.emplace_back(p + "self_attn.o_proj", layer.self_attn->o_proj);
    out.emplace_back(p + "mlp.gate_proj", layer.mlp->gate_proj);
    out.emplace_back(p + "mlp.up_proj", layer.mlp->up_proj);
    out.emplace_back(p + "mlp.down_proj", layer.mlp->down_proj);
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLM::hf_state_dict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const auto& model = *impl->model;
  out.emplace_back("model.embed_tokens.weight", model.embed_tokens->weight.detach());
  auto add_linear = [&out](const std::string& name, const Linear& l) {
    for (auto& kv : l.weight()->state_dict(name)) out.push_back(std::move(kv));
    if (l.bias().defined()) out.emplace_back(name + ".bias", l.bias().detach());
  };
  const auto linears = named_linears();
  std::size_t next = 0;
  for (std::size_t i = 0; i < model.layer_list.size(); ++i) {
    const auto& layer = *model.layer_list[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "input_layernorm.weight", layer.input_layernorm->weight.detach());
    for (int k = 0; k < 4; ++k, ++next) add_linear(linears[next].first, *linears[next].second);
    out.emplace_back(p + "post_attention_layernorm.weight",
                     layer.post_attention_layernorm->weight.detach());
    for (int k = 0; k < 3; ++k, ++next) add_linear(linears[next].first, *linears[next].second);
  }
  out.emplace_back("model.norm.weight", model.norm->weight.detach());
  if (impl->lm_head) add_linear("lm_head", *impl->lm_head);
  return out;
}

}  // namespace rlhf
