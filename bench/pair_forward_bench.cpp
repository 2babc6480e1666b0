// The pair forward of a DPO step on the 100M bench model (bench/bench_model.hpp, LoRA r 16 on
// q_proj/v_proj, frozen base) three ways, in one process, alternating, median of `iters`:
//   plain  — the full logits of the 2P padded rows through sequence_logps (what TRL computes and
//            rlhf-host did until 2026-11-30);
//   rows   — completion_logits(model, batch): the output projection at completion positions only;
//   pairs  — completion_logits(model, batch, 2): also each pair packed around its shared prefix
//            (docs/algorithms.md, "Packed rows").
// Forward alone (no grad: a reference pass) and forward + backward of Σ log-probs (the policy's
// pass). The three must agree; the largest difference of a row's log-prob is printed.
// Data shaped like UltraFeedback: every pair shares a `prompt`-token prompt, completions of
// 64–192 tokens (a fixed draw), right-padded.
//
//   build/bench/pair_forward_bench [iters=3] [float32|bfloat16] [pairs=4] [prompt=256]
//                                  [threads=2] [only=all|plain|rows|pairs]
//
// `only` runs one way alone, so that the process's peak resident memory is that way's.
// Numbers: bench/README.md, "Pair forward".
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_lora.hpp"
#include "bench_model.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace {

using rlhf::SequenceLogps;

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::stoi(argv[1]) : 3;
  const std::string dtype_name = argc > 2 ? argv[2] : "bfloat16";
  const std::int64_t pairs = argc > 3 ? std::stoll(argv[3]) : 4;
  const std::int64_t prompt = argc > 4 ? std::stoll(argv[4]) : 256;
  at::set_num_threads(argc > 5 ? std::stoi(argv[5]) : 2);
  const std::string only = argc > 6 ? argv[6] : "all";
  const auto dtype = dtype_name == "float32" ? torch::kFloat32 : torch::kBFloat16;

  torch::manual_seed(0);
  const rlhf::ModelConfig config = rlhf::bench::bench_config();
  rlhf::CausalLM model(config, dtype);
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  std::vector<std::shared_ptr<rlhf::bench::BenchLora>> adapters;
  for (const auto& [name, linear] : model.named_linears()) {
    if (name.find("q_proj") == std::string::npos && name.find("v_proj") == std::string::npos)
      continue;
    adapters.push_back(
        std::make_shared<rlhf::bench::BenchLora>(linear->in_features(), linear->out_features()));
    // B starts at zero; a nonzero B gives the adapter gradients a path through A too.
    adapters.back()->B.data().normal_(0.0, 0.01);
    linear->set_adapter(adapters.back());
  }

  std::mt19937_64 rng(7);
  auto token = [&] { return static_cast<std::int64_t>(3 + rng() % (config.vocab_size - 3)); };
  std::vector<rlhf::PromptCompletionIds> chosen, rejected;
  std::int64_t real_tokens = 0;
  for (std::int64_t i = 0; i < pairs; ++i) {
    std::vector<std::int64_t> p(static_cast<std::size_t>(prompt));
    for (auto& t : p) t = token();
    for (auto* side : {&chosen, &rejected}) {
      std::vector<std::int64_t> c(static_cast<std::size_t>(64 + rng() % 129));
      for (auto& t : c) t = token();
      real_tokens += prompt + static_cast<std::int64_t>(c.size());
      side->push_back({p, c});
    }
  }
  std::vector<rlhf::PromptCompletionIds> rows = chosen;
  rows.insert(rows.end(), rejected.begin(), rejected.end());
  const rlhf::Batch batch = rlhf::collate(rows, 0);

  using Way = std::function<SequenceLogps()>;
  const std::vector<std::pair<std::string, Way>> ways = {
      {"plain",
       [&] {
         return rlhf::sequence_logps(model.forward(batch.input_ids, batch.attention_mask),
                                     batch.labels);
       }},
      {"rows", [&] { return rlhf::sequence_logps(rlhf::completion_logits(model, batch)); }},
      {"pairs", [&] { return rlhf::sequence_logps(rlhf::completion_logits(model, batch, 2)); }}};

  std::map<std::string, std::vector<double>> forward, both;
  std::map<std::string, at::Tensor> sums;
  for (int it = 0; it < iters + 1; ++it) {  // the first round warms up and is not counted
    for (const auto& [name, way] : ways) {
      if (only != "all" && only != name) continue;
      double f = 0;
      {
        torch::NoGradGuard no_grad;
        f = seconds_of([&] { sums[name] = way().sum; });
      }
      const double b = seconds_of([&] {
        for (auto& a : adapters) a->A.mutable_grad() = a->B.mutable_grad() = torch::Tensor();
        way().sum.sum().backward();
      });
      if (it > 0) forward[name].push_back(f), both[name].push_back(b);
    }
  }

  std::printf(
      "pair_forward_bench: %s, %ld pairs, prompt %ld, completions 64-192, T %ld, "
      "%ld real tokens, %d threads, median of %d\n",
      dtype_name.c_str(), static_cast<long>(pairs), static_cast<long>(prompt),
      static_cast<long>(batch.input_ids.size(1)), static_cast<long>(real_tokens),
      at::get_num_threads(), iters);
  for (const auto& [name, way] : ways) {
    if (!forward.count(name)) continue;
    const double f = median(forward[name]), b = median(both[name]);
    std::printf("  %-6s forward %8.1f ms (%7.1f tok/s)   forward+backward %8.1f ms (%7.1f tok/s)",
                name.c_str(), f * 1e3, static_cast<double>(real_tokens) / f, b * 1e3,
                static_cast<double>(real_tokens) / b);
    if (forward.count("plain") && name != "plain")
      std::printf("   %.2fx / %.2fx of plain, max |Δ logp| %.2e", median(forward["plain"]) / f,
                  median(both["plain"]) / b,
                  (sums[name] - sums["plain"]).abs().max().item<double>());
    std::printf("\n");
  }
  std::printf("  peak RSS %.0f MiB\n", rlhf::bench::peak_rss_mib());
  return 0;
}
