// qlora_memory_bench (issue 18): peak resident memory of a QLoRA DPO step at sequence 1024 on a
// random-weight Llama of a named shape, next to a budget written out term by term.
//
//   build/bench/qlora_memory_bench SHAPE [steps] [layers]
//     SHAPE   100m | 1b | 3b | 7b   (the bench model; TinyLlama-1.1B; OpenLLaMA-3B; Llama-2-7B)
//     steps   DPO steps to run (default 1)
//     layers  override the number of decoder layers (default: the shape's), for depth sweeps
//
// The model is built without ever holding its dense weights: CausalLM's WeightInit constructor
// draws one projection at a time (normal, std 0.02, float32) and hands it to the nf4 quantizer
// (blocksize 64, double quant, as `rlhf-host quantize`), so the process holds at most one dense
// projection besides the 4-bit base. Embeddings, norms and lm_head are bfloat16 (bitsandbytes
// keeps lm_head dense). LoRA r 16, alpha 32 on all linear layers (the lora plugin, float32
// master weights), gradient checkpointing on, bfloat16 compute.
//
// One DPO step on one pair: prompt 512 + chosen 512 / rejected 512 random ids (two rows of
// 1,024), collated by rlhf::collate_pairs, both rows through rlhf::concatenated_forward; the
// reference is the same model with the adapter disabled under no-grad (as ReferencePolicy does
// without ref_model / ref_adapter); DPO sigmoid loss (plugins/dpo), backward, clip_grad_norm 1.0,
// AdamW (rlhf::make_adamw).
//
// Prints the peak RSS (getrusage ru_maxrss) after the build and after each phase of each step,
// the step time, and the budget. Numbers and commands: bench/README.md. The peak includes what
// glibc's allocator keeps after freeing; MALLOC_MMAP_THRESHOLD_=4194304 in the environment shows
// the peak without most of it (bench/README.md).
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_model.hpp"
#include "dpo/dpo_loss.hpp"
#include "lora/lora_adapter.hpp"
#include "quant_nf4/nf4_quantizer.hpp"
#include "rlhf/config.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/optimizer.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/training_config.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kMiB = 1048576.0;
constexpr std::int64_t kPrompt = 512, kCompletion = 512, kRank = 16;

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Resident now (/proc/self/statm), to tell what a step keeps from what it passes through.
double current_rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / kMiB;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

rlhf::ModelConfig shape_config(const std::string& shape) {
  if (shape == "100m") return rlhf::bench::bench_config();
  rlhf::ModelConfig c;  // Llama-2-7B's defaults (model_config.hpp); untied, vocab 32000
  c.max_position_embeddings = 2048;
  if (shape == "7b") return c;
  if (shape == "3b") {  // OpenLLaMA-3B (openlm-research/open_llama_3b config.json)
    c.hidden_size = 3200;
    c.intermediate_size = 8640;
    c.num_hidden_layers = 26;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 32;
    c.head_dim = 100;
    return c;
  }
  if (shape == "1b") {  // TinyLlama-1.1B
    c.hidden_size = 2048;
    c.intermediate_size = 5632;
    c.num_hidden_layers = 22;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
    return c;
  }
  std::fprintf(stderr, "unknown shape '%s' (100m, 1b, 3b or 7b)\n", shape.c_str());
  std::exit(2);
}

std::vector<std::int64_t> random_ids(std::int64_t n, std::int64_t vocab) {
  const torch::Tensor t = torch::randint(3, vocab, {n}, torch::kInt64);
  return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + n};
}

rlhf::dpo::ChosenRejectedLogps dpo_inputs(const rlhf::PairLogps& p) {
  return {p.chosen.sum, p.rejected.sum, p.chosen.mean, p.rejected.mean};
}

void line(const char* what, double bytes) {
  std::printf("  %-66s %9.0f MiB\n", what, bytes / kMiB);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: qlora_memory_bench 100m|1b|3b|7b [steps] [layers]\n");
    return 2;
  }
  const std::string shape = argv[1];
  const int steps = argc > 2 ? std::stoi(argv[2]) : 1;
  rlhf::ModelConfig cfg = shape_config(shape);
  if (argc > 3) cfg.num_hidden_layers = std::stoll(argv[3]);
  at::set_num_threads(2);
  torch::manual_seed(0);
  const double rss_start = current_rss_mib();

  // --- the model, one projection at a time -------------------------------------------------
  const auto dtype = torch::kBFloat16;
  rlhf::nf4::NF4Quantizer quantizer(rlhf::Config::parse("blocksize = 64\ndouble_quant = true"));
  std::int64_t base_params = 0, dense_params = 0;
  rlhf::WeightInit init;
  init.tensor = [&](const std::string& name, const std::vector<std::int64_t>& shape_) {
    const bool norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    torch::Tensor t = norm ? torch::ones(shape_) : torch::empty(shape_).normal_(0.0, 0.02);
    dense_params += t.numel();
    return t.to(dtype).requires_grad_(true);
  };
  init.linear = [&](const std::string& module, std::int64_t out,
                    std::int64_t in) -> std::shared_ptr<rlhf::LinearWeight> {
    const torch::Tensor w = torch::empty({out, in}).normal_(0.0, 0.02);
    if (module == "lm_head") {  // kept dense, as bitsandbytes and load_causal_lm do
      dense_params += w.numel();
      return std::make_shared<rlhf::DenseWeight>(w.to(dtype).requires_grad_(true));
    }
    base_params += w.numel();
    return quantizer.quantize(w, module, dtype);
  };
  auto t0 = Clock::now();
  auto model = std::make_shared<rlhf::CausalLM>(cfg, dtype, init);
  const double build_s = seconds_since(t0);
  std::int64_t nf4_bytes = 0;
  for (const auto& [name, linear] : model->named_linears())
    nf4_bytes += linear->weight()->storage_bytes();

  rlhf::lora::LoraAdapter adapter(
      rlhf::Config::parse("r = 16\nalpha = 32\ntarget_modules = \"all-linear\""));
  adapter.attach(*model);
  adapter.set_training(true);
  model->set_gradient_checkpointing(true);
  const rlhf::NamedTensors trainable = adapter.named_parameters();
  std::int64_t lora_params = 0;
  for (const auto& [name, t] : trainable) lora_params += t.numel();
  rlhf::TrainingConfig training;
  training.learning_rate = 1e-4;
  auto optimizer = rlhf::make_adamw(trainable, training);

  const long long L = cfg.num_hidden_layers;
  std::printf(
      "shape %s: H %lld, I %lld, %lld layers, %lld/%lld heads, vocab %lld, %s embeddings\n"
      "  %.3fB parameters in NF4 projections, %.3fB dense bf16 (embeddings, lm_head, norms), "
      "%.2fM LoRA (r %lld, all linear)\n",
      shape.c_str(), static_cast<long long>(cfg.hidden_size),
      static_cast<long long>(cfg.intermediate_size), L,
      static_cast<long long>(cfg.num_attention_heads),
      static_cast<long long>(cfg.num_key_value_heads), static_cast<long long>(cfg.vocab_size),
      cfg.tie_word_embeddings ? "tied" : "untied", base_params / 1e9, dense_params / 1e9,
      lora_params / 1e6, static_cast<long long>(kRank));
  std::printf("built in %.1f s; RSS at start %.0f MiB; after build: peak %.0f MiB, now %.0f MiB\n",
              build_s, rss_start, peak_rss_mib(), current_rss_mib());
  std::fflush(stdout);

  // --- one pair: prompt 512 + completions 512 ------------------------------------------------
  rlhf::TokenizedPair pair;
  pair.chosen.prompt = random_ids(kPrompt, cfg.vocab_size);
  pair.rejected.prompt = pair.chosen.prompt;
  pair.chosen.completion = random_ids(kCompletion, cfg.vocab_size);
  pair.rejected.completion = random_ids(kCompletion, cfg.vocab_size);
  const rlhf::PairBatch batch = rlhf::collate_pairs({pair}, {0}, 0);
  const std::int64_t rows = batch.batch.input_ids.size(0), T = batch.batch.input_ids.size(1);

  for (int s = 1; s <= steps; ++s) {
    const auto step_start = Clock::now();
    rlhf::dpo::ChosenRejectedLogps reference;
    {
      torch::NoGradGuard no_grad;
      adapter.set_enabled(false);
      reference = dpo_inputs(rlhf::concatenated_forward(*model, batch));
      adapter.set_enabled(true);
    }
    const double ref_s = seconds_since(step_start), ref_peak = peak_rss_mib();
    auto t = Clock::now();
    const auto policy = dpo_inputs(rlhf::concatenated_forward(*model, batch));
    const auto out = rlhf::dpo::dpo_loss(policy, reference, 0.1, rlhf::dpo::LossType::sigmoid, 0.0);
    const torch::Tensor loss = out.losses.mean();
    const double fwd_s = seconds_since(t), fwd_peak = peak_rss_mib(), fwd_now = current_rss_mib();
    t = Clock::now();
    loss.backward();
    const double bwd_s = seconds_since(t), bwd_peak = peak_rss_mib();
    t = Clock::now();
    rlhf::clip_grad_norm(trainable, 1.0);
    optimizer->step();
    optimizer->zero_grad();
    const double opt_s = seconds_since(t);
    std::printf(
        "step %d (%lld rows x %lld tokens): loss %.4f | reference fwd %.1f s, policy fwd %.1f s, "
        "backward %.1f s, clip+AdamW %.2f s, step %.1f s\n"
        "  peak RSS after reference fwd %.0f MiB, after policy fwd %.0f MiB (now %.0f), after "
        "backward %.0f MiB, after step %.0f MiB (now %.0f)\n",
        s, static_cast<long long>(rows), static_cast<long long>(T), loss.item<double>(), ref_s,
        fwd_s, bwd_s, opt_s, seconds_since(step_start), ref_peak, fwd_peak, fwd_now, bwd_peak,
        peak_rss_mib(), current_rss_mib());
    std::fflush(stdout);
  }

  // --- the budget, term by term --------------------------------------------------------------
  const double H = static_cast<double>(cfg.hidden_size),
               I = static_cast<double>(cfg.intermediate_size);
  const double V = static_cast<double>(cfg.vocab_size),
               nh = static_cast<double>(cfg.num_attention_heads);
  const double tokens = static_cast<double>(rows * T);
  const double process = rss_start * kMiB;
  const double base = static_cast<double>(nf4_bytes);
  const double dense = 2.0 * static_cast<double>(dense_params);
  const double lora = 16.0 * static_cast<double>(lora_params);  // fp32 param + grad + AdamW m, v
  const double layer_inputs = static_cast<double>(L) * tokens * H * 2.0;
  // One layer recomputed with its graph: the bf16 tensors autograd saves per token (norm inputs
  // and outputs, q k v, rotated q k, attention output, o_proj input, MLP input, gate, up, silu,
  // gate·up: ≈ 10·H + 4·I elements) plus attention's scores (bf16), softmax output (float32) and
  // probs (bf16) per head: rows·nh·T²·(2 + 4 + 2) bytes.
  const double recompute = tokens * (10.0 * H + 4.0 * I) * 2.0 + tokens * nh * T * 8.0;
  // Logits over every position [rows, T, V]: log_softmax's float32 output, saved for backward,
  // and in backward the float32 gradient of the gather next to log_softmax's float32 gradient
  // (the forward's transient bf16 logits + float32 copy + output, 2 + 4 + 4, are less).
  const double logits = tokens * V * (4.0 + 4.0 + 4.0);
  const double total = process + base + dense + lora + layer_inputs + recompute + logits;
  std::printf("budget (%s, %lld rows x %lld tokens, bf16 compute, gradient checkpointing):\n",
              shape.c_str(), static_cast<long long>(rows), static_cast<long long>(T));
  line("process before the model (LibTorch, allocator)", process);
  char what[128];
  std::snprintf(what, sizeof what, "NF4 base, measured storage (%.3f bytes/param)",
                base / static_cast<double>(base_params));
  line(what, base);
  line("bf16 embeddings, lm_head, norms (2 bytes/param)", dense);
  line("LoRA fp32 params + grads + AdamW m, v (16 bytes/param)", lora);
  line("checkpointed layer inputs, L x rows x T x H x 2 bytes", layer_inputs);
  line("one layer's recompute (10H + 4I per token, scores nh x T^2 x 8)", recompute);
  line("logits: float32 log_softmax + 2 float32 grads, rows x T x V x 12", logits);
  line("total", total);
  std::printf("measured peak %.0f MiB = %.2f x budget\n", peak_rss_mib(),
              peak_rss_mib() * kMiB / total);
  return 0;
}
