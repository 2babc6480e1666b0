// model_bench: forward and forward+backward tokens/s of a ~100M-parameter Llama-shaped CausalLM
// (seq 512, batch 4) in float32 and bfloat16, with MFU against this machine's matmul peak,
// measured here with 2048×2048 matmuls of each dtype.
//
//   model_bench [--iters N] [--seq T] [--batch B] [--threads K]
//
// FLOPs counted per step (forward): 2 × tokens × (projection + lm_head parameters) plus the
// attention matmuls 2 × 2 × B × L × T² × (nh × hd) (the full T×T block, as computed).
// Forward+backward = 3 × forward.
#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench_model.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace {

using rlhf::bench::bench_config;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Peak matmul throughput of `dtype` in GFLOP/s: best of ten 2048² products after three
// warm-ups (oneDNN JIT-compiles its bf16 kernels on first use). Called before and after the
// model runs; the larger value is the peak MFU is computed against.
double matmul_peak_gflops(torch::ScalarType dtype) {
  const std::int64_t n = 2048;
  const auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  for (int i = 0; i < 3; ++i) torch::matmul(a, b);
  double best = 0;
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto c = torch::matmul(a, b);
    const double s = seconds_since(t0);
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  return best;
}

// VmRSS / VmHWM of this process in MiB.
double status_mib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(std::strlen(key))) / 1024.0;
  return 0;
}

// Loads a float32 checkpoint of the bench model and reports the peak resident memory the load
// added: one copy of the weights (plus one tensor) means peak − before ≈ the weights' size. The
// checkpoint is written by a child process, so this process's heap holds no freed weights that
// the load could silently reuse.
void load_memory_check() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("rlhf-model-bench-" + std::to_string(::getpid()));
  const pid_t child = ::fork();
  if (child == 0) {
    torch::manual_seed(0);
    rlhf::CausalLM(bench_config(), torch::kFloat32).save_pretrained(dir);
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("load: the child that writes the checkpoint failed\n");
    return;
  }
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
  const double before = status_mib("VmRSS:");
  {
    const auto t0 = std::chrono::steady_clock::now();
    auto loaded = rlhf::load_causal_lm(dir);
    const double s = seconds_since(t0);
    double weights_mib = 0;
    for (const auto& p : loaded->parameters()) weights_mib += p.numel() * 4.0 / (1 << 20);
    std::printf(
        "load: %.0f MiB of float32 weights in %.1f s; resident before %.0f MiB, peak during "
        "load +%.0f MiB, after load +%.0f MiB\n",
        weights_mib, s, before, status_mib("VmHWM:") - before, status_mib("VmRSS:") - before);
  }
  std::filesystem::remove_all(dir);
}

struct Result {
  double fwd_tok_s, fwdbwd_tok_s, fwd_gflops, fwdbwd_gflops;
};

Result run(torch::ScalarType dtype, std::int64_t B, std::int64_t T, int iters) {
  torch::manual_seed(0);
  const auto cfg = bench_config();
  rlhf::CausalLM model(cfg, dtype);
  std::int64_t proj_params = 0;
  for (const auto& [name, l] : model.named_linears())
    proj_params += l->in_features() * l->out_features();
  const double head_params = static_cast<double>(cfg.vocab_size * cfg.hidden_size);
  const double tokens = static_cast<double>(B * T);
  const double fwd_flops = 2.0 * tokens * (static_cast<double>(proj_params) + head_params) +
                           4.0 * B * cfg.num_hidden_layers * static_cast<double>(T) * T *
                               cfg.num_attention_heads * cfg.head_dim;

  const auto ids = torch::randint(3, cfg.vocab_size, {B, T}, torch::kInt64);
  const auto mask = torch::ones({B, T}, torch::kInt64);
  auto labels = ids.clone();
  labels.narrow(1, 0, T / 4).fill_(-100);  // a prompt part, as in preference batches

  Result r{};
  {
    torch::NoGradGuard ng;
    model.forward(ids, mask);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) model.forward(ids, mask);
    const double s = seconds_since(t0) / iters;
    r.fwd_tok_s = tokens / s;
    r.fwd_gflops = fwd_flops / s / 1e9;
  }
  {
    auto step = [&] {
      model.zero_grad();
      const auto lp = rlhf::sequence_logps(model.forward(ids, mask), labels);
      (-lp.sum.mean()).backward();
    };
    step();  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) step();
    const double s = seconds_since(t0) / iters;
    r.fwdbwd_tok_s = tokens / s;
    r.fwdbwd_gflops = 3.0 * fwd_flops / s / 1e9;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 2, threads = 2;
  std::int64_t T = 512, B = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--iters")
      iters = std::atoi(argv[i + 1]);
    else if (k == "--seq")
      T = std::atoll(argv[i + 1]);
    else if (k == "--batch")
      B = std::atoll(argv[i + 1]);
    else if (k == "--threads")
      threads = std::atoi(argv[i + 1]);
  }
  load_memory_check();  // first: fork() before this process starts any thread pool
  at::set_num_threads(threads);
  std::int64_t params = 0;
  {
    rlhf::CausalLM probe(bench_config(), torch::kBFloat16);
    for (const auto& p : probe.parameters()) params += p.numel();
  }
  std::printf(
      "model: Llama-shaped H=768 I=2048 L=12 nh=12 nkv=4 V=32000 tied, %.1fM params; "
      "batch %lld x seq %lld; %d threads; %d timed iterations\n",
      params / 1e6, static_cast<long long>(B), static_cast<long long>(T), threads, iters);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const char* name = dtype == torch::kFloat32 ? "float32" : "bfloat16";
    const double peak_before = matmul_peak_gflops(dtype);
    const Result r = run(dtype, B, T, iters);
    const double peak = std::max(peak_before, matmul_peak_gflops(dtype));
    std::printf(
        "%-8s matmul peak %6.1f GFLOP/s | forward %7.1f tok/s %6.1f GFLOP/s MFU %4.1f%% | "
        "fwd+bwd %7.1f tok/s %6.1f GFLOP/s MFU %4.1f%%\n",
        name, peak, r.fwd_tok_s, r.fwd_gflops, 100.0 * r.fwd_gflops / peak, r.fwdbwd_tok_s,
        r.fwdbwd_gflops, 100.0 * r.fwdbwd_gflops / peak);
    std::fflush(stdout);
  }
  return 0;
}
