// generate(): batched, left-padded decoding with a KV cache (see generation.hpp).
#include "rlhf/toolkit/generation.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "causal_lm_impl.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf {

namespace {

// Temperature, top-k and top-p (transformers' logits warpers, in that order) on float32 [B, V].
torch::Tensor filtered_logits(torch::Tensor logits, const GenerationConfig& cfg) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (cfg.temperature != 1.0) logits = logits / cfg.temperature;
  const auto V = logits.size(-1);
  if (cfg.top_k > 0 && cfg.top_k < V) {
    const torch::Tensor kth = std::get<0>(logits.topk(cfg.top_k, -1)).narrow(-1, cfg.top_k - 1, 1);
    logits = logits.masked_fill(logits < kth, neg_inf);
  }
  if (cfg.top_p < 1.0) {
    // Ascending sort; drop the tokens whose cumulative probability stays within 1 - top_p, but
    // always keep the most likely one.
    auto [sorted, order] = logits.sort(-1, /*descending=*/false);
    const torch::Tensor cumulative = sorted.softmax(-1).cumsum(-1);
    torch::Tensor remove = cumulative <= (1.0 - cfg.top_p);
    remove.narrow(-1, V - 1, 1).fill_(false);
    logits = logits.masked_fill(remove.scatter(-1, order, remove), neg_inf);
  }
  return logits;
}

}  // namespace

GenerationOutput generate(CausalLM& model, const std::vector<std::vector<std::int64_t>>& prompts,
                          const GenerationConfig& cfg) {
  if (prompts.empty()) throw Error("generate: no prompts");
  if (cfg.do_sample && cfg.temperature <= 0)
    throw Error("generate: temperature must be > 0 when sampling");
  torch::NoGradGuard no_grad;
  const auto device = model.impl->model->embed_tokens->weight.device();
  const auto B = static_cast<std::int64_t>(prompts.size());
  std::int64_t P = 0;
  for (const auto& p : prompts) {
    if (p.empty()) throw Error("generate: empty prompt");
    P = std::max<std::int64_t>(P, static_cast<std::int64_t>(p.size()));
  }
  torch::Tensor prompt_ids = torch::full({B, P}, cfg.pad_token_id, torch::kInt64);
  torch::Tensor prompt_mask = torch::zeros({B, P}, torch::kInt64);
  for (std::int64_t i = 0; i < B; ++i) {
    const auto& p = prompts[static_cast<std::size_t>(i)];
    const auto n = static_cast<std::int64_t>(p.size());
    prompt_ids[i].narrow(0, P - n, n).copy_(torch::tensor(p, torch::kInt64));
    prompt_mask[i].narrow(0, P - n, n).fill_(1);
  }

  GenerationOutput out;
  out.prompt_length = P;
  out.completions.resize(static_cast<std::size_t>(B));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(cfg.seed);
  const torch::Tensor eos = torch::tensor(cfg.eos_token_ids, torch::kInt64);

  KVCache cache;
  torch::Tensor next =
      model.forward_with_cache(prompt_ids.to(device), prompt_mask.to(device), cache)
          .select(1, P - 1)
          .to(torch::kCPU, torch::kFloat32);
  torch::Tensor finished = torch::zeros({B}, torch::kBool);
  std::vector<torch::Tensor> tokens, masks, step_logits;
  for (std::int64_t step = 0; step < cfg.max_new_tokens; ++step) {
    if (cfg.output_logits) step_logits.push_back(next);
    torch::Tensor token;
    if (cfg.do_sample) {
      const torch::Tensor probs = filtered_logits(next, cfg).softmax(-1);
      token = torch::multinomial(probs, 1, false, generator).squeeze(-1);
    } else {
      token = next.argmax(-1);
    }
    const torch::Tensor alive = ~finished;
    token = torch::where(alive, token, torch::full_like(token, cfg.pad_token_id));
    tokens.push_back(token);
    masks.push_back(alive.to(torch::kInt64));
    for (std::int64_t i = 0; i < B; ++i)
      if (alive[i].item<bool>())
        out.completions[static_cast<std::size_t>(i)].push_back(token[i].item<std::int64_t>());
    if (eos.numel() > 0) finished = finished | (alive & torch::isin(token, eos));
    if (finished.all().item<bool>() || step + 1 == cfg.max_new_tokens) break;
    next = model
               .forward_with_cache(token.view({B, 1}).to(device),
                                   alive.to(torch::kInt64).view({B, 1}).to(device), cache)
               .select(1, 0)
               .to(torch::kCPU, torch::kFloat32);
  }
  out.completion_ids =
      tokens.empty() ? torch::zeros({B, 0}, torch::kInt64) : torch::stack(tokens, 1);
  out.completion_mask =
      masks.empty() ? torch::zeros({B, 0}, torch::kInt64) : torch::stack(masks, 1);
  out.sequences = torch::cat({prompt_ids, out.completion_ids}, 1);
  out.attention_mask = torch::cat({prompt_mask, out.completion_mask}, 1);
  if (cfg.output_logits && !step_logits.empty()) out.logits = torch::stack(step_logits, 1);
  return out;
}

std::vector<std::int64_t> stop_token_ids(const std::filesystem::path& model_dir,
                                         const CausalLM& model, const Tokenizer& tokenizer,
                                         const ChatTemplate& chat_template) {
  std::vector<std::int64_t> ids;
  auto add = [&ids](std::int64_t id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  const std::filesystem::path file = model_dir / "generation_config.json";
  std::ifstream in(file);
  const auto gen =
      in ? nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false) : nlohmann::json();
  if (in && !gen.is_object()) throw Error(file.string() + ": not a JSON object");
  const auto eos = gen.is_object() ? gen.value("eos_token_id", nlohmann::json()) : nlohmann::json();
  if (eos.is_number_integer()) add(eos.get<std::int64_t>());
  if (eos.is_array())
    for (const auto& id : eos)
      if (id.is_number_integer()) add(id.get<std::int64_t>());
  if (ids.empty())
    for (auto id : model.config().eos_token_ids) add(id);
  add(tokenizer.eos_id());
  if (!chat_template.end_of_turn().empty()) add(tokenizer.token_to_id(chat_template.end_of_turn()));
  return ids;
}

std::string completion_text(const Tokenizer& tokenizer, std::vector<std::int64_t> ids,
                            const std::vector<std::int64_t>& stop_ids) {
  if (!ids.empty() && std::find(stop_ids.begin(), stop_ids.end(), ids.back()) != stop_ids.end())
    ids.pop_back();
  return tokenizer.decode(ids, /*skip_special_tokens=*/true);
}

}  // namespace rlhf
