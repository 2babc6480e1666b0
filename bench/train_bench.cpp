// train_bench: one DPO optimizer step on the ~100M Llama bench model (the shape model_bench
// uses), LoRA r=16 on q_proj/v_proj, with the reference log-probs computed live (a second,
// no-grad forward with the adapter disabled) or precomputed (precompute_ref_log_probs = true:
// the reference pass is paid once before training, so a step is the policy pass only).
//
//   build/bench/train_bench [live|precomputed] [float32|bfloat16] [pairs] [seq_len] [steps]
//
// Prints the step time, tokens/s (chosen + rejected tokens through the policy per second) and
// the process's peak resident memory. Run each mode in its own process so the peaks are its own.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "bench_lora.hpp"
#include "bench_model.hpp"
#include "dpo/dpo_loss.hpp"
#include "rlhf/linear.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/optimizer.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/training_config.hpp"

namespace {

using rlhf::bench::bench_config;
using rlhf::bench::BenchLora;
using rlhf::bench::peak_rss_mib;

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "live";
  const std::string dtype_name = argc > 2 ? argv[2] : "bfloat16";
  const std::int64_t pairs = argc > 3 ? std::stoll(argv[3]) : 4;
  const std::int64_t T = argc > 4 ? std::stoll(argv[4]) : 128;
  const int steps = argc > 5 ? std::stoi(argv[5]) : 3;
  const bool precomputed = mode == "precomputed";
  const auto dtype = dtype_name == "float32" ? torch::kFloat32 : torch::kBFloat16;
  at::set_num_threads(2);
  torch::manual_seed(0);

  auto model = std::make_shared<rlhf::CausalLM>(bench_config(), dtype);
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  std::vector<std::shared_ptr<BenchLora>> layers;
  rlhf::NamedTensors trainable;
  for (const auto& [name, linear] : model->named_linears()) {
    if (name.find("q_proj") == std::string::npos && name.find("v_proj") == std::string::npos)
      continue;
    auto l = std::make_shared<BenchLora>(linear->in_features(), linear->out_features());
    linear->set_adapter(l);
    layers.push_back(l);
    trainable.emplace_back(name + ".lora_A", l->A);
    trainable.emplace_back(name + ".lora_B", l->B);
  }
  rlhf::TrainingConfig config;
  config.learning_rate = 1e-4;
  auto optimizer = rlhf::make_adamw(trainable, config);

  // Random pairs: a 32-token prompt, completions filling the rest of seq_len.
  std::vector<rlhf::TokenizedPair> data;
  for (std::int64_t i = 0; i < pairs; ++i) {
    rlhf::TokenizedPair p;
    auto ids = [](std::int64_t n) {
      auto t = torch::randint(3, 32000, {n}, torch::kInt64);
      return std::vector<std::int64_t>(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + n);
    };
    p.chosen.prompt = ids(32);
    p.rejected.prompt = p.chosen.prompt;
    p.chosen.completion = ids(T - 32);
    p.rejected.completion = ids(T - 32);
    data.push_back(p);
  }
  std::vector<std::size_t> indices;
  for (std::int64_t i = 0; i < pairs; ++i) indices.push_back(static_cast<std::size_t>(i));
  rlhf::PairBatch batch = rlhf::collate_pairs(data, indices, 0);

  auto reference_pass = [&] {
    torch::NoGradGuard no_grad;
    for (auto& l : layers) l->set_enabled(false);
    auto ref = rlhf::concatenated_forward(*model, batch);
    for (auto& l : layers) l->set_enabled(true);
    return rlhf::dpo::ChosenRejectedLogps{ref.chosen.sum, ref.rejected.sum, ref.chosen.mean,
                                          ref.rejected.mean};
  };
  rlhf::dpo::ChosenRejectedLogps precomputed_ref;
  double precompute_s = 0;
  if (precomputed) {
    auto t0 = std::chrono::steady_clock::now();
    precomputed_ref = reference_pass();
    precompute_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double total = 0;
  for (int s = 0; s <= steps; ++s) {  // step 0 is a warm-up
    auto t0 = std::chrono::steady_clock::now();
    auto ref = precomputed ? precomputed_ref : reference_pass();
    auto pol = rlhf::concatenated_forward(*model, batch);
    rlhf::dpo::ChosenRejectedLogps policy{pol.chosen.sum, pol.rejected.sum, pol.chosen.mean,
                                          pol.rejected.mean};
    auto out = rlhf::dpo::dpo_loss(policy, ref, 0.1, rlhf::dpo::LossType::sigmoid, 0.0);
    out.losses.mean().backward();
    rlhf::clip_grad_norm(trainable, 1.0);
    optimizer->step();
    optimizer->zero_grad();
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0) total += sec;
  }
  const double step_s = total / steps;
  std::printf(
      "mode=%s dtype=%s pairs=%lld seq_len=%lld tokens/step=%lld step=%.3f s tokens/s=%.1f "
      "precompute=%.3f s peak_rss=%.0f MiB\n",
      mode.c_str(), dtype_name.c_str(), static_cast<long long>(pairs), static_cast<long long>(T),
      static_cast<long long>(batch.tokens), step_s, static_cast<double>(batch.tokens) / step_s,
      precompute_s, peak_rss_mib());
  return 0;
}
