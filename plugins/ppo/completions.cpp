#include "completions.hpp"

#include <algorithm>
#include <chrono>

namespace rlhf::ppo {

Completions generate_completions(CausalLM& model, const Tokenizer& tokenizer,
                                 const std::vector<const PromptRow*>& rows,
                                 const GenerationConfig& config, std::int64_t chunk) {
  Completions out;
  const auto step = static_cast<std::size_t>(chunk);
  for (std::size_t start = 0; start < rows.size(); start += step) {
    const std::size_t end = std::min(rows.size(), start + step);
    std::vector<std::vector<std::int64_t>> prompts;
    for (std::size_t i = start; i < end; ++i) prompts.push_back(rows[i]->ids);
    GenerationConfig c = config;
    c.seed = config.seed + start / step;
    const auto began = std::chrono::steady_clock::now();
    GenerationOutput g = generate(model, prompts, c);
    out.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    for (auto& ids : g.completions) {
      const bool eos = !ids.empty() && std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(),
                                                 ids.back()) != c.eos_token_ids.end();
      out.new_tokens += static_cast<std::int64_t>(ids.size());
      out.texts.push_back(completion_text(tokenizer, ids, c.eos_token_ids));
      out.has_eos.push_back(eos);
      out.ids.push_back(std::move(ids));
    }
  }
  return out;
}

}  // namespace rlhf::ppo
