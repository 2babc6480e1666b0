// compare_bench — the rlhf-host side of bench/compare.sh (issue 18): the same workloads as
// bench/compare_torch.py (PyTorch eager, TRL's computation), on the same checkpoint and the same
// batches, one workload per process so its peak resident memory is its own.
//
//   compare_bench setup DIR [--small] [--pairs P]
//       writes DIR/model (the bench model, float32, random init, seed 0), DIR/lora (a PEFT LoRA
//       adapter, r 16, alpha 32, q_proj/v_proj, with a non-zero B so policy ≠ reference),
//       DIR/model-nf4 (the same model quantized by the nf4 plugin, double quant, bitsandbytes
//       keys) and DIR/batches.safetensors (the token ids of every batch, raw and collated).
//   compare_bench matmul float32|bfloat16 [--threads N] [--iters N]
//       best of N 2048³ torch::matmul, GFLOP/s.
//   compare_bench copy [--threads N] [--iters N]
//       best of N copies of a 256 MiB float32 tensor into another, GB/s (read + written).
//   compare_bench run WORKLOAD float32|bfloat16 DIR [--threads N] [--steps N]
//       WORKLOAD: logps | sft | dpo_live | dpo_precomputed | orpo | dpo_nf4. One warm-up step
//       (its log-probs and loss are the CHECK line), then N timed steps.
//
// Every step calls what the plugins call in rlhf-host's own step (collate_pairs,
// ReferencePolicy::logps, concatenated_forward, dpo_loss / orpo_loss / sft_loss,
// MasterWeights, clip_grad_norm, make_adamw's AdamW), so a change inside those functions shows
// up here.
// Output: "RESULT key=value …" and "CHECK key=value …" lines that compare_torch.py summarises.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_model.hpp"
#include "dpo/dpo_loss.hpp"
#include "lora/lora_adapter.hpp"
#include "orpo/orpo_loss.hpp"
#include "quant_nf4/nf4_quantizer.hpp"
#include "rlhf/config.hpp"
#include "rlhf/reference_policy.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/logprobs.hpp"
#include "rlhf/toolkit/master_weights.hpp"
#include "rlhf/toolkit/optimizer.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/training_config.hpp"
#include "sft/sft_loss.hpp"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kLoraConfig = "r = 16\nalpha = 32\ntarget_modules = [\"q_proj\", \"v_proj\"]";
constexpr double kBeta = 0.1;           // DPO's and ORPO's beta (TRL's default)
constexpr double kLearningRate = 1e-5;  // the same on both sides; it does not change the time
constexpr std::int64_t kPadId = 0;      // right padding with token 0, labels -100

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

torch::ScalarType dtype_of(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  std::fprintf(stderr, "compare_bench: dtype must be float32 or bfloat16, got '%s'\n",
               name.c_str());
  std::exit(2);
}

// "--key value" options after the positional arguments.
std::map<std::string, std::string> options(int argc, char** argv, int first) {
  std::map<std::string, std::string> out;
  for (int i = first; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--small") {
      out["small"] = "1";
    } else if (k.rfind("--", 0) == 0 && i + 1 < argc) {
      out[k.substr(2)] = argv[++i];
    } else {
      std::fprintf(stderr, "compare_bench: unexpected argument '%s'\n", k.c_str());
      std::exit(2);
    }
  }
  return out;
}

std::int64_t int_option(const std::map<std::string, std::string>& o, const std::string& key,
                        std::int64_t fallback) {
  const auto it = o.find(key);
  if (it == o.end()) return fallback;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    throw std::runtime_error("--" + key + ": not a number: '" + it->second + "'");
  }
}

// ---- setup: checkpoint, adapter, NF4 checkpoint, batches ----

std::vector<std::int64_t> random_ids(std::int64_t n, std::int64_t vocab) {
  const torch::Tensor t = torch::randint(3, vocab, {n}, torch::kInt64);
  return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + n};
}

// Pairs sharing a prompt of `prompt` tokens, completions of [lo, hi] tokens each.
std::vector<rlhf::TokenizedPair> random_pairs(std::int64_t count, std::int64_t prompt,
                                              std::int64_t lo, std::int64_t hi,
                                              std::int64_t vocab) {
  std::vector<rlhf::TokenizedPair> pairs;
  auto length = [&] { return torch::randint(lo, hi + 1, {1}, torch::kInt64).item<std::int64_t>(); };
  for (std::int64_t i = 0; i < count; ++i) {
    rlhf::TokenizedPair p;
    p.chosen.prompt = random_ids(prompt, vocab);
    p.rejected.prompt = p.chosen.prompt;
    p.chosen.completion = random_ids(length(), vocab);
    p.rejected.completion = random_ids(length(), vocab);
    pairs.push_back(std::move(p));
  }
  return pairs;
}

std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(i);
  return out;
}

// The pairs as tensors: `set.prompt` [P, Lp], `set.chosen` / `set.rejected` [P, max] padded
// with 0 plus their lengths, and the collated 2P-row batch (`set.input_ids`,
// `set.attention_mask`, `set.labels`) that the Python side feeds its model.
void add_pair_tensors(const std::string& set, const std::vector<rlhf::TokenizedPair>& pairs,
                      std::vector<std::pair<std::string, torch::Tensor>>& out) {
  const auto P = static_cast<std::int64_t>(pairs.size());
  auto padded = [&](auto field) {
    std::int64_t width = 0;
    for (const auto& p : pairs) width = std::max<std::int64_t>(width, field(p).size());
    torch::Tensor t = torch::zeros({P, width}, torch::kInt64);
    torch::Tensor len = torch::zeros({P}, torch::kInt64);
    for (std::int64_t i = 0; i < P; ++i) {
      const auto& ids = field(pairs[i]);
      len[i] = static_cast<std::int64_t>(ids.size());
      if (!ids.empty()) t[i].narrow(0, 0, ids.size()).copy_(torch::tensor(ids, torch::kInt64));
    }
    return std::make_pair(t, len);
  };
  auto prompt = padded([](const rlhf::TokenizedPair& p) { return p.chosen.prompt; });
  auto chosen = padded([](const rlhf::TokenizedPair& p) { return p.chosen.completion; });
  auto rejected = padded([](const rlhf::TokenizedPair& p) { return p.rejected.completion; });
  out.emplace_back(set + ".prompt", prompt.first);
  out.emplace_back(set + ".chosen", chosen.first);
  out.emplace_back(set + ".chosen_len", chosen.second);
  out.emplace_back(set + ".rejected", rejected.first);
  out.emplace_back(set + ".rejected_len", rejected.second);
  const rlhf::PairBatch batch = rlhf::collate_pairs(pairs, all_indices(pairs.size()), kPadId);
  out.emplace_back(set + ".input_ids", batch.batch.input_ids);
  out.emplace_back(set + ".attention_mask", batch.batch.attention_mask);
  out.emplace_back(set + ".labels", batch.batch.labels);
}

int setup(const fs::path& dir, bool small, std::int64_t pairs) {
  rlhf::ModelConfig cfg = rlhf::bench::bench_config();
  if (small) cfg.num_hidden_layers = 2;
  fs::create_directories(dir);
  torch::manual_seed(0);
  rlhf::CausalLM model(cfg, torch::kFloat32);
  model.save_pretrained(dir / "model");

  // The adapter: PEFT's init draws B = 0, which makes the policy equal the reference at the
  // first step (DPO loss exactly log 2 on both sides whatever they compute); a small random B
  // makes the check compare real numbers.
  torch::manual_seed(1);
  rlhf::lora::LoraAdapter adapter(rlhf::Config::parse(kLoraConfig));
  adapter.attach(model);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : adapter.named_parameters())
      if (name.find("lora_B") != std::string::npos) t.normal_(0.0, 0.02);
  }
  adapter.save(dir / "lora");

  rlhf::nf4::NF4Quantizer nf4(rlhf::Config::parse("double_quant = true"));
  rlhf::LoadOptions load;
  load.quantizer = &nf4;
  const auto quantized = rlhf::load_causal_lm(dir / "model", load);
  quantized->save_pretrained(dir / "model-nf4", std::int64_t{5} << 30,
                             "{\"quantization_config\": " + nf4.quantization_config_json() + "}");

  // rows: the forward and SFT batch, 2 pairs of prompt + completion of fixed lengths (4 × 512);
  // pairs: UltraFeedback-like preference pairs, a shared prompt longer than each completion.
  const std::int64_t V = cfg.vocab_size;
  torch::manual_seed(2);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  if (small) {
    add_pair_tensors("rows", random_pairs(2, 32, 32, 32, V), tensors);
    add_pair_tensors("pairs", random_pairs(pairs, 32, 8, 24, V), tensors);
  } else {
    add_pair_tensors("rows", random_pairs(2, 256, 256, 256, V), tensors);
    add_pair_tensors("pairs", random_pairs(pairs, 256, 64, 192, V), tensors);
  }
  rlhf::save_safetensors(dir / "batches.safetensors", tensors);
  std::printf("setup: wrote %s (%lld layers, %lld pairs)\n", dir.c_str(),
              static_cast<long long>(cfg.num_hidden_layers), static_cast<long long>(pairs));
  return 0;
}

// ---- peaks ----

int matmul_peak(torch::ScalarType dtype, int iters) {
  const std::int64_t n = 2048;
  torch::manual_seed(0);
  const auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  for (int i = 0; i < 3; ++i) torch::matmul(a, b);  // oneDNN JIT-compiles on first use
  double best = 1e30;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    const auto c = torch::matmul(a, b);
    best = std::min(best, seconds_since(t0));
  }
  std::printf("RESULT side=rlhf-host workload=matmul dtype=%s gflops=%.2f rss_mib=%.0f\n",
              dtype == torch::kFloat32 ? "float32" : "bfloat16", 2.0 * n * n * n / best / 1e9,
              peak_rss_mib());
  return 0;
}

int copy_bandwidth(int iters) {
  const std::int64_t n = std::int64_t{64} << 20;  // 256 MiB of float32
  const torch::Tensor src = torch::ones({n}), dst = torch::zeros({n});
  dst.copy_(src);  // pages faulted in before timing
  double best = 1e30;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    dst.copy_(src);
    best = std::min(best, seconds_since(t0));
  }
  std::printf("RESULT side=rlhf-host workload=copy dtype=float32 gbs=%.3f rss_mib=%.0f\n",
              2.0 * 4.0 * static_cast<double>(n) / best / 1e9, peak_rss_mib());
  return 0;
}

// ---- run: one workload ----

// Rebuilds the pairs `set` of batches.safetensors and collates them with collate_pairs, as the
// pair plugins do each step; the result must be the batch the Python side reads.
std::vector<rlhf::TokenizedPair> read_pairs(const rlhf::SafetensorsFile& file,
                                            const std::string& set) {
  const torch::Tensor prompt = file.load(set + ".prompt"), chosen = file.load(set + ".chosen"),
                      chosen_len = file.load(set + ".chosen_len"),
                      rejected = file.load(set + ".rejected"),
                      rejected_len = file.load(set + ".rejected_len");
  auto ids = [](const torch::Tensor& row, std::int64_t n) {
    const torch::Tensor c = row.narrow(0, 0, n).contiguous();
    return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + n);
  };
  std::vector<rlhf::TokenizedPair> pairs;
  for (std::int64_t i = 0; i < prompt.size(0); ++i) {
    rlhf::TokenizedPair p;
    p.chosen.prompt = ids(prompt[i], prompt.size(1));
    p.rejected.prompt = p.chosen.prompt;
    p.chosen.completion = ids(chosen[i], chosen_len[i].item<std::int64_t>());
    p.rejected.completion = ids(rejected[i], rejected_len[i].item<std::int64_t>());
    pairs.push_back(std::move(p));
  }
  const rlhf::PairBatch batch = rlhf::collate_pairs(pairs, all_indices(pairs.size()), kPadId);
  if (!batch.batch.input_ids.equal(file.load(set + ".input_ids")) ||
      !batch.batch.labels.equal(file.load(set + ".labels"))) {
    std::fprintf(stderr, "compare_bench: collate_pairs(%s) differs from %s\n", set.c_str(),
                 file.path().c_str());
    std::exit(1);
  }
  return pairs;
}

double first(const torch::Tensor& t) { return t.detach().to(torch::kDouble)[0].item<double>(); }

struct Workload {
  std::function<void()> step;   // one training (or forward) step
  std::function<void()> check;  // prints the CHECK line of the step just run
  std::int64_t tokens = 0;      // real tokens of a step's batch
  std::int64_t examples = 0;    // pairs (pair workloads) or rows
};

int run(const std::string& workload, torch::ScalarType dtype, const fs::path& dir, int steps) {
  const char* dtype_name = dtype == torch::kFloat32 ? "float32" : "bfloat16";
  const bool nf4 = workload == "dpo_nf4";
  const bool lora = workload == "dpo_live" || workload == "dpo_precomputed" || nf4;
  if (!lora && workload != "logps" && workload != "sft" && workload != "orpo") {
    std::fprintf(stderr,
                 "compare_bench: unknown workload '%s' (logps, sft, dpo_live, dpo_precomputed, "
                 "orpo, dpo_nf4)\n",
                 workload.c_str());
    return 2;
  }
  rlhf::nf4::NF4Quantizer quantizer(rlhf::Config::parse("double_quant = true"));
  rlhf::LoadOptions load;
  load.dtype = dtype;
  if (nf4) load.quantizer = &quantizer;
  const auto load_t0 = Clock::now();
  std::shared_ptr<rlhf::CausalLM> model = load_causal_lm(dir / (nf4 ? "model-nf4" : "model"), load);
  const double load_s = seconds_since(load_t0);
  rlhf::SafetensorsFile batches(dir / "batches.safetensors");
  const auto rows = read_pairs(batches, "rows");
  const auto pairs = read_pairs(batches, "pairs");

  torch::manual_seed(0);
  rlhf::lora::LoraAdapter adapter(rlhf::Config::parse(kLoraConfig));
  rlhf::TrainingConfig training;
  training.learning_rate = kLearningRate;
  training.per_device_train_batch_size = static_cast<std::int64_t>(pairs.size());
  training.per_device_eval_batch_size = training.per_device_train_batch_size;
  rlhf::NamedTensors trainable;
  if (lora) {
    adapter.attach(*model);
    adapter.load(dir / "lora");
    trainable = adapter.named_parameters();
  } else {
    for (const auto& item : model->named_parameters(/*recurse=*/true))
      if (item.value().requires_grad()) trainable.emplace_back(item.key(), item.value());
  }
  // As the Trainer: a bfloat16 full fine-tune updates float32 masters (LoRA is float32 already).
  // (`logps` trains nothing: no masters, whose float32 copy of the model would count in its RSS.)
  rlhf::MasterWeights masters(workload == "logps" ? rlhf::NamedTensors{} : trainable);
  std::unique_ptr<torch::optim::AdamW> optimizer;
  if (workload != "logps") optimizer = rlhf::make_adamw(masters.params(), training);
  auto update = [&](const torch::Tensor& loss) {
    loss.backward();
    masters.take_gradients();
    rlhf::clip_grad_norm(masters.params(), training.max_grad_norm);
    optimizer->step();
    masters.write_back();
    optimizer->zero_grad();
  };

  // What the host hands a pair algorithm's step: the stage (model, adapter, training settings)
  // and its context; the reference is rlhf-host's ReferencePolicy (adapter disabled, live or
  // precomputed into <stage_dir>/reference_logps.safetensors).
  rlhf::StageContext ctx;
  ctx.stage_name = "compare";
  ctx.dtype = dtype;
  ctx.stage_dir = fs::temp_directory_path() / ("rlhf-compare-" + std::to_string(::getpid()));
  fs::create_directories(ctx.stage_dir);
  ctx.adapter = lora ? &adapter : nullptr;
  rlhf::Stage stage;
  stage.model = model;
  stage.adapter = ctx.adapter;
  stage.training = training;
  std::unique_ptr<rlhf::ReferencePolicy> reference;
  double precompute_s = 0;
  const auto pair_indices = all_indices(pairs.size());
  if (lora) {
    rlhf::ReferenceOptions ref_options;
    ref_options.precompute = workload == "dpo_precomputed";
    const auto t0 = Clock::now();
    reference = std::make_unique<rlhf::ReferencePolicy>(
        ctx, stage, ref_options, pairs.size(), 0, 2,
        [&](rlhf::Split, const std::vector<std::size_t>& indices) {
          return rlhf::collate_pairs(pairs, indices, kPadId).batch;
        });
    precompute_s = seconds_since(t0);
  }
  stage.set_training(true);

  // What the steps write and the checks read (outlive the lambdas below).
  rlhf::PairLogps policy, ref;
  double loss = 0, nll = 0;
  std::vector<rlhf::PromptCompletionIds> sft_rows;
  for (const auto& p : rows) sft_rows.push_back(p.chosen);
  for (const auto& p : rows) sft_rows.push_back(p.rejected);
  Workload w;
  if (workload == "logps") {
    // The no-grad log-prob pass (a reference or eval pass) over the 4 × 512 rows.
    w.step = [&] {
      torch::NoGradGuard no_grad;
      policy = rlhf::concatenated_forward(
          *model, rlhf::collate_pairs(rows, all_indices(rows.size()), kPadId));
    };
    w.check = [&] {
      std::printf("CHECK side=rlhf-host workload=%s dtype=%s chosen=%.8g rejected=%.8g\n",
                  workload.c_str(), dtype_name, first(policy.chosen.sum),
                  first(policy.rejected.sum));
    };
    w.tokens = rlhf::collate_pairs(rows, all_indices(rows.size()), kPadId).tokens;
    w.examples = 2 * static_cast<std::int64_t>(rows.size());
  } else if (workload == "sft") {
    // The sft plugin's step (plugins/sft/sft_algorithm.cpp): collate, completion logits, sft_loss.
    w.step = [&] {
      const rlhf::Batch batch = rlhf::collate(sft_rows, kPadId);
      const rlhf::sft::SftLossOutput out =
          rlhf::sft::sft_loss(rlhf::completion_logits(*model, batch));
      loss = out.loss.item<double>();
      update(out.loss);
    };
    w.check = [&] {
      std::printf("CHECK side=rlhf-host workload=%s dtype=%s loss=%.8g\n", workload.c_str(),
                  dtype_name, loss);
    };
    for (const auto& r : sft_rows) w.tokens += r.prompt.size() + r.completion.size();
    w.examples = static_cast<std::int64_t>(sft_rows.size());
  } else {
    // The pair plugins' step (sdk/src/pair_preference.cpp): collate, reference first, then the
    // policy's concatenated forward, the plugin's loss.
    w.step = [&] {
      const rlhf::PairBatch batch = rlhf::collate_pairs(pairs, pair_indices, kPadId);
      if (reference)
        ref = rlhf::split_pair_logps(
            reference->logps(rlhf::Split::train, pair_indices, batch.batch), batch.pairs);
      policy = rlhf::concatenated_forward(*model, batch);
      torch::Tensor l;
      if (workload == "orpo") {
        const auto out = rlhf::orpo::orpo_loss(policy.chosen, policy.rejected, kBeta);
        l = out.loss;
        nll = out.nll_loss.item<double>();
      } else {
        const auto out = rlhf::dpo::dpo_loss(
            {policy.chosen.sum, policy.rejected.sum, policy.chosen.mean, policy.rejected.mean},
            {ref.chosen.sum, ref.rejected.sum, ref.chosen.mean, ref.rejected.mean}, kBeta,
            rlhf::dpo::LossType::sigmoid, 0.0);
        l = out.losses.mean();
      }
      loss = l.item<double>();
      update(l);
    };
    w.check = [&] {
      std::printf("CHECK side=rlhf-host workload=%s dtype=%s chosen=%.8g rejected=%.8g",
                  workload.c_str(), dtype_name, first(policy.chosen.sum),
                  first(policy.rejected.sum));
      if (ref.chosen.sum.defined())
        std::printf(" ref_chosen=%.8g ref_rejected=%.8g", first(ref.chosen.sum),
                    first(ref.rejected.sum));
      if (workload == "orpo") std::printf(" nll=%.8g", nll);
      std::printf(" loss=%.8g\n", loss);
    };
    w.tokens = rlhf::collate_pairs(pairs, pair_indices, kPadId).tokens;
    w.examples = static_cast<std::int64_t>(pairs.size());
  }

  w.step();  // warm-up: oneDNN's kernels, the allocator, the optimizer state
  w.check();
  std::fflush(stdout);
  const auto t0 = Clock::now();
  for (int s = 0; s < steps; ++s) w.step();
  const double step_s = seconds_since(t0) / steps;
  std::printf(
      "RESULT side=rlhf-host workload=%s dtype=%s step_s=%.4f tokens=%lld examples=%lld "
      "precompute_s=%.3f load_s=%.2f rss_mib=%.0f\n",
      workload.c_str(), dtype_name, step_s, static_cast<long long>(w.tokens),
      static_cast<long long>(w.examples), precompute_s, load_s, peak_rss_mib());
  reference.reset();
  fs::remove_all(ctx.stage_dir);
  return 0;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: compare_bench setup DIR [--small] [--pairs P]\n"
      "       compare_bench matmul float32|bfloat16 [--threads N] [--iters N]\n"
      "       compare_bench copy [--threads N] [--iters N]\n"
      "       compare_bench run WORKLOAD float32|bfloat16 DIR [--threads N] [--steps N]\n");
  return 2;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string command = argv[1];
  const int positional = command == "setup"    ? 1
                         : command == "matmul" ? 1
                         : command == "run"    ? 3
                                               : 0;
  if (command != "setup" && command != "matmul" && command != "copy" && command != "run")
    return usage();
  if (argc < 2 + positional) return usage();
  const auto o = options(argc, argv, 2 + positional);
  at::set_num_threads(static_cast<int>(int_option(o, "threads", 2)));
  const int iters = static_cast<int>(int_option(o, "iters", 10));
  if (command == "setup") return setup(argv[2], o.count("small") > 0, int_option(o, "pairs", 2));
  if (command == "matmul") return matmul_peak(dtype_of(argv[2]), iters);
  if (command == "copy") return copy_bandwidth(iters);
  return run(argv[2], dtype_of(argv[3]), argv[4], static_cast<int>(int_option(o, "steps", 1)));
}

}  // namespace

int main(int argc, char** argv) {
  // One line naming what failed (a missing work folder, a bad number), not an abort.
  try {
    return dispatch(argc, argv);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "compare_bench: %s\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_bench: %s\n", e.what());
  }
  return 1;
}
