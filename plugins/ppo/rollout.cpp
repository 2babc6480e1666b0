#include "rollout.hpp"

#include <torch/torch.h>

#include <cmath>

#include "ppo_math.hpp"
#include "rlhf/error.hpp"
#include "rlhf/reward_model.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::ppo {

Sequences Sequences::rows(const at::Tensor& index) const {
  Sequences out;
  out.input_ids = input_ids.index_select(0, index);
  out.attention_mask = attention_mask.index_select(0, index);
  out.labels = labels.index_select(0, index);
  out.mask = mask.index_select(0, index);
  out.prompt_length = prompt_length;
  return out;
}

Sequences pad_sequences(const std::vector<std::vector<std::int64_t>>& prompts,
                        const std::vector<std::vector<std::int64_t>>& completions,
                        std::int64_t pad_id) {
  const auto R = static_cast<std::int64_t>(prompts.size());
  std::int64_t P = 0, N = 1;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    P = std::max<std::int64_t>(P, static_cast<std::int64_t>(prompts[i].size()));
    N = std::max<std::int64_t>(N, static_cast<std::int64_t>(completions[i].size()));
  }
  Sequences s;
  s.prompt_length = P;
  s.input_ids = torch::full({R, P + N}, pad_id, torch::kInt64);
  s.attention_mask = torch::zeros({R, P + N}, torch::kInt64);
  s.labels = torch::full({R, N}, kIgnoreIndex, torch::kInt64);
  for (std::int64_t i = 0; i < R; ++i) {
    const auto& p = prompts[static_cast<std::size_t>(i)];
    const auto& c = completions[static_cast<std::size_t>(i)];
    const auto np = static_cast<std::int64_t>(p.size());
    const auto nc = static_cast<std::int64_t>(c.size());
    s.input_ids[i].narrow(0, P - np, np).copy_(torch::tensor(p, torch::kInt64));
    s.attention_mask[i].narrow(0, P - np, np).fill_(1);
    if (nc > 0) {
      const at::Tensor ids = torch::tensor(c, torch::kInt64);
      s.input_ids[i].narrow(0, P, nc).copy_(ids);
      s.attention_mask[i].narrow(0, P, nc).fill_(1);
      s.labels[i].narrow(0, 0, nc).copy_(ids);
    }
  }
  s.mask = (s.labels != kIgnoreIndex).to(torch::kFloat32);
  return s;
}

ValueHead ValueHead::zeros(std::int64_t hidden_size) {
  // Zero: every value starts at 0, so the first advantages are the rewards-to-go themselves and
  // the head learns the score scale from the returns.
  ValueHead h;
  h.weight = torch::zeros({1, hidden_size}, torch::kFloat32).set_requires_grad(true);
  h.bias = torch::zeros({1}, torch::kFloat32).set_requires_grad(true);
  return h;
}

at::Tensor ValueHead::values(const at::Tensor& hidden) const {
  const at::Tensor h = hidden.to(torch::kFloat32);
  return torch::matmul(h, weight.to(h.device()).t()).squeeze(-1) + bias.to(h.device());
}

PolicyTokens policy_tokens(CausalLM& model, const ValueHead* head, const Sequences& seq,
                           double temperature) {
  const auto device = model.parameters().front().device();
  const at::Tensor hidden =
      model.hidden_states(seq.input_ids.to(device), seq.attention_mask.to(device));
  const auto N = seq.labels.size(1);
  const at::Tensor h = hidden.narrow(1, seq.prompt_length - 1, N);  // predicts completion t
  const at::Tensor logits = model.lm_head(h).to(torch::kFloat32) / temperature;
  const at::Tensor mask = seq.mask.to(device);
  PolicyTokens out;
  out.logps = token_logps(logits, seq.labels.to(device));
  if (head) out.values = head->values(h) * mask;
  torch::NoGradGuard no_grad;
  out.entropy = token_entropy(logits.detach()) * mask;
  return out;
}

void compute_advantages(Rollout& r, const PpoOptions& o) {
  torch::NoGradGuard no_grad;
  const at::Tensor& mask = r.seq.mask;
  const at::Tensor kl = per_token_kl(r.logps, r.ref_logps, mask, o.kl_estimator);
  const at::Tensor non_score = -o.kl_coef * kl;
  at::Tensor rewards = token_rewards(kl, r.scores, mask, o.kl_coef);
  if (o.whiten_rewards) rewards = masked_whiten(rewards, mask, /*shift_mean=*/false);
  Advantages a = gae(rewards, r.values, mask, o.gamma, o.lam);
  r.returns = a.returns;
  r.advantages = masked_whiten(a.advantages, mask);

  const double score = r.scores.mean().item<double>();
  const double non_score_sum = non_score.sum(1).mean().item<double>();
  std::int64_t eos = 0;
  for (bool e : r.has_eos) eos += e ? 1 : 0;
  r.metrics = {{"objective/kl", kl.sum(1).mean().item<double>()},
               {"objective/entropy", (-r.logps * mask).sum(1).mean().item<double>()},
               {"objective/non_score_reward", non_score_sum},
               {"objective/rlhf_reward", score + non_score_sum},
               {"objective/scores", score},
               {"val/num_eos_tokens", static_cast<double>(eos)}};
}

StepOutput ppo_step(CausalLM& model, const ValueHead& head, const Rollout& r,
                    const std::vector<std::size_t>& indices, const PpoOptions& o) {
  std::vector<std::int64_t> idx(indices.begin(), indices.end());
  const at::Tensor index = torch::tensor(idx, torch::kInt64);
  const Sequences seq = r.seq.rows(index);
  PolicyTokens now = policy_tokens(model, &head, seq, o.temperature);
  const auto device = now.logps.device();
  auto rows = [&](const at::Tensor& t) { return t.index_select(0, index).to(device); };
  const at::Tensor mask = seq.mask.to(device);
  PolicyLoss pg =
      clipped_policy_loss(now.logps, rows(r.logps), rows(r.advantages), mask, o.cliprange);
  ValueLoss vf =
      clipped_value_loss(now.values, rows(r.values), rows(r.returns), mask, o.cliprange_value);
  StepOutput out;
  out.loss = pg.loss + o.vf_coef * vf.loss;
  out.tokens = seq.attention_mask.sum().item<std::int64_t>();
  out.metrics = r.metrics;
  const Metrics update = {{"policy/approxkl_avg", pg.approxkl.item<double>()},
                          {"policy/clipfrac_avg", pg.clipfrac.item<double>()},
                          {"policy/entropy_avg", masked_mean(now.entropy, mask).item<double>()},
                          {"loss/policy_avg", pg.loss.item<double>()},
                          {"loss/value_avg", vf.loss.item<double>()},
                          {"val/clipfrac_avg", vf.clipfrac.item<double>()},
                          {"val/ratio", pg.ratio_mean.item<double>()},
                          {"val/ratio_var", pg.ratio_var.item<double>()}};
  out.metrics.insert(out.metrics.end(), update.begin(), update.end());
  return out;
}

at::Tensor checked_scores(RewardModel& reward_model, const std::string& stage_name,
                          const std::vector<Example>& prompts,
                          const std::vector<std::string>& completions) {
  const at::Tensor raw = reward_model.score(prompts, completions);
  const std::string who = "stage '" + stage_name + "': the reward model";
  if (!raw.defined()) throw Error(who + " returned no scores");
  if (raw.numel() != static_cast<std::int64_t>(completions.size()))
    throw Error(who + " returned " + std::to_string(raw.numel()) + " scores for " +
                std::to_string(completions.size()) + " completions (one score per completion)");
  const at::Tensor scores = raw.detach().reshape({-1}).to(torch::kCPU, torch::kFloat32);
  for (std::int64_t i = 0; i < scores.size(0); ++i) {
    const double v = scores[i].item<double>();
    if (!std::isfinite(v))
      throw Error(who + " returned " + (std::isnan(v) ? std::string("nan") : std::to_string(v)) +
                  " for the completion of " + prompts[static_cast<std::size_t>(i)].source +
                  ": a score must be a finite number");
  }
  return scores;
}

}  // namespace rlhf::ppo
