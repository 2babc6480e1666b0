// ppo_bench: where a PPO step's time goes on the ~100M Llama bench model (bench_model.hpp) with
// LoRA r=16 on q_proj/v_proj, through the ppo plugin's own functions (plugins/ppo/rollout.hpp)
// and the SDK's one generation function (KV cache):
//
//   build/bench/ppo_bench [float32|bfloat16] [prompts] [prompt_len] [response_len] [ppo_epochs]
//
// One step = generate `response_len` new tokens for each of `prompts` random prompts (sampling,
// no early stop) → policy log-probs + values (no grad) → reference log-probs (adapter disabled)
// → `ppo_epochs` updates (forward + backward + AdamW on the whole batch). Prints tokens/s of
// each phase, the share of the step spent generating, and generation's new tokens/s against a
// plain forward's tokens/s (the matmul-bound rate: every position of the batch at once).
#include <chrono>
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "bench_lora.hpp"
#include "bench_model.hpp"
#include "ppo/rollout.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/generation.hpp"
#include "rlhf/toolkit/optimizer.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dtype_name = argc > 1 ? argv[1] : "bfloat16";
  const std::int64_t B = argc > 2 ? std::stoll(argv[2]) : 8;
  const std::int64_t P = argc > 3 ? std::stoll(argv[3]) : 64;
  const std::int64_t N = argc > 4 ? std::stoll(argv[4]) : 53;
  const std::int64_t epochs = argc > 5 ? std::stoll(argv[5]) : 4;
  const auto dtype = dtype_name == "float32" ? torch::kFloat32 : torch::kBFloat16;
  at::set_num_threads(2);
  torch::manual_seed(0);

  auto model = std::make_shared<rlhf::CausalLM>(rlhf::bench::bench_config(), dtype);
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  std::vector<std::shared_ptr<rlhf::bench::BenchLora>> layers;
  rlhf::NamedTensors trainable;
  for (const auto& [name, linear] : model->named_linears()) {
    if (name.find("q_proj") == std::string::npos && name.find("v_proj") == std::string::npos)
      continue;
    auto l =
        std::make_shared<rlhf::bench::BenchLora>(linear->in_features(), linear->out_features());
    linear->set_adapter(l);
    layers.push_back(l);
    trainable.emplace_back(name + ".lora_A", l->A);
    trainable.emplace_back(name + ".lora_B", l->B);
  }
  rlhf::ppo::ValueHead head = rlhf::ppo::ValueHead::zeros(model->config().hidden_size);
  trainable.emplace_back("value_head.weight", head.weight);
  trainable.emplace_back("value_head.bias", head.bias);
  rlhf::TrainingConfig config;
  config.learning_rate = 1e-5;
  auto optimizer = rlhf::make_adamw(trainable, config);
  rlhf::ppo::PpoOptions options;

  std::vector<std::vector<std::int64_t>> prompts;
  for (std::int64_t i = 0; i < B; ++i) {
    auto t = torch::randint(3, 32000, {P}, torch::kInt64);
    prompts.emplace_back(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + P);
  }
  rlhf::GenerationConfig gen;
  gen.max_new_tokens = N;
  gen.do_sample = true;
  gen.temperature = options.temperature;

  double t_gen = 0, t_old = 0, t_ref = 0, t_update = 0, t_forward = 0;
  const int steps = 2;
  for (int s = 0; s <= steps; ++s) {  // step 0 is a warm-up
    auto t0 = std::chrono::steady_clock::now();
    gen.seed = static_cast<std::uint64_t>(s);
    rlhf::GenerationOutput g = rlhf::generate(*model, prompts, gen);
    const double gen_s = seconds_since(t0);
    rlhf::ppo::Rollout r;
    r.seq = rlhf::ppo::pad_sequences(prompts, g.completions, 0);
    t0 = std::chrono::steady_clock::now();
    {
      torch::NoGradGuard no_grad;
      auto now = rlhf::ppo::policy_tokens(*model, &head, r.seq, options.temperature);
      r.logps = now.logps;
      r.values = now.values;
    }
    const double old_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    {
      torch::NoGradGuard no_grad;
      for (auto& l : layers) l->set_enabled(false);
      r.ref_logps = rlhf::ppo::policy_tokens(*model, nullptr, r.seq, options.temperature).logps;
      for (auto& l : layers) l->set_enabled(true);
    }
    const double ref_s = seconds_since(t0);
    r.scores = torch::randn({B});
    r.has_eos.assign(static_cast<std::size_t>(B), false);
    rlhf::ppo::compute_advantages(r, options);
    std::vector<std::size_t> all;
    for (std::int64_t i = 0; i < B; ++i) all.push_back(static_cast<std::size_t>(i));
    t0 = std::chrono::steady_clock::now();
    for (std::int64_t e = 0; e < epochs; ++e) {
      rlhf::StepOutput out = rlhf::ppo::ppo_step(*model, head, r, all, options);
      out.loss.backward();
      rlhf::clip_grad_norm(trainable, 1.0);
      optimizer->step();
      optimizer->zero_grad();
    }
    const double update_s = seconds_since(t0);
    // The matmul-bound reference: one no-grad forward over all B × (P + N) positions.
    t0 = std::chrono::steady_clock::now();
    {
      torch::NoGradGuard no_grad;
      model->forward(r.seq.input_ids, r.seq.attention_mask);
    }
    const double forward_s = seconds_since(t0);
    if (s == 0) continue;
    t_gen += gen_s;
    t_old += old_s;
    t_ref += ref_s;
    t_update += update_s;
    t_forward += forward_s;
  }
  const double n = steps;
  const double new_tokens = static_cast<double>(B * N);
  const double positions = static_cast<double>(B * (P + N));
  const double step_s = (t_gen + t_old + t_ref + t_update) / n;
  std::printf(
      "dtype=%s prompts=%lld prompt_len=%lld response_len=%lld ppo_epochs=%lld\n"
      "  generation: %.2f s, %.1f new tokens/s (KV cache, batch %lld)\n"
      "  policy log-probs + values: %.2f s; reference log-probs: %.2f s\n"
      "  update: %.2f s for %lld epochs, %.1f tokens/s (forward + backward + AdamW)\n"
      "  step: %.2f s, %.0f%% generating\n"
      "  plain forward over the batch: %.1f tokens/s; generation reaches %.1f%% of it\n"
      "  peak RSS %.0f MiB\n",
      dtype_name.c_str(), static_cast<long long>(B), static_cast<long long>(P),
      static_cast<long long>(N), static_cast<long long>(epochs), t_gen / n, new_tokens * n / t_gen,
      static_cast<long long>(B), t_old / n, t_ref / n, t_update / n, static_cast<long long>(epochs),
      positions * static_cast<double>(epochs) * n / t_update, step_s, 100.0 * (t_gen / n) / step_s,
      positions * n / t_forward, 100.0 * (new_tokens * n / t_gen) / (positions * n / t_forward),
      rlhf::bench::peak_rss_mib());
  return 0;
}
