// `rlhf-host bench-quant`: one row per installed quantizer plugin (found by the registry, so a
// third-party quantizer shows up with no host rebuild): bytes of base weights, weight
// reconstruction error against the dense checkpoint (relative Frobenius norm, max abs),
// forward and forward+backward time, and eval NLL / perplexity on a data file.
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "checkpoint_quantizer.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "quant_cli.hpp"
#include "requantize.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// Texts of a data file: JSONL rows give "text", or "prompt" followed by "completion" or
// "chosen"; any other file is read one text per non-empty line.
std::vector<std::string> read_texts(const fs::path& path, std::size_t limit) {
  std::ifstream in(path);
  if (!in) throw rlhf::Error("bench-quant: cannot read data file '" + path.string() + "'");
  std::vector<std::string> texts;
  std::string line;
  std::size_t lineno = 0;
  while (texts.size() < limit && std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (path.extension() != ".jsonl") {
      texts.push_back(line);
      continue;
    }
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw rlhf::Error("bench-quant: " + path.string() + ":" + std::to_string(lineno) +
                        ": not JSON: " + e.what());
    }
    if (row.contains("text")) {
      texts.push_back(row["text"].get<std::string>());
    } else if (row.contains("prompt")) {
      std::string t = row["prompt"].get<std::string>();
      for (const char* k : {"completion", "chosen"})
        if (row.contains(k) && row[k].is_string()) {
          t += " " + row[k].get<std::string>();
          break;
        }
      texts.push_back(t);
    } else {
      throw rlhf::Error("bench-quant: " + path.string() + ":" + std::to_string(lineno) +
                        ": expected a \"text\" or \"prompt\" field");
    }
  }
  if (texts.empty()) throw rlhf::Error("bench-quant: no texts in '" + path.string() + "'");
  return texts;
}

struct Row {
  std::string name, format;
  std::int64_t bytes = 0;
  double rel_frobenius = 0, max_abs = 0, fwd_ms = 0, fwdbwd_ms = 0, nll = 0;
};

template <typename F>
double best_ms(int iters, F&& f) {
  double best = 1e30;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// `stored`: the quantizer of a pre-quantized checkpoint (null for a dense one). A row of another
// quantizer quantizes the checkpoint's dequantized weights.
Row measure(const std::string& name, rlhf::Quantizer* quantizer, const fs::path& model_dir,
            rlhf::Quantizer* stored, const std::map<std::string, torch::Tensor>& reference,
            const std::vector<std::vector<std::int64_t>>& sequences, torch::ScalarType dtype,
            int iters) {
  rlhf::LoadOptions load;
  load.dtype = dtype;
  load.quantizer = stored ? stored : quantizer;
  const auto model = rlhf::load_causal_lm(model_dir, load);
  if (stored && stored != quantizer) rlhf::host::requantize_projections(*model, quantizer);
  Row row;
  row.name = name;
  double err2 = 0, ref2 = 0;
  for (const auto& [path, linear] : model->named_linears()) {
    row.bytes += linear->weight()->storage_bytes();
    row.format = linear->weight()->format();
    const torch::Tensor& w = reference.at(path);
    const torch::Tensor d = linear->weight()->dense(torch::kFloat32) - w;
    err2 += d.pow(2).sum().item<double>();
    ref2 += w.pow(2).sum().item<double>();
    row.max_abs = std::max(row.max_abs, d.abs().max().item<double>());
  }
  row.rel_frobenius = std::sqrt(err2 / std::max(ref2, 1e-30));

  // Timing on the first sequence; backward reaches every projection through the embeddings.
  const auto& first = sequences.front();
  const torch::Tensor ids = torch::tensor(first).view({1, -1});
  const torch::Tensor mask = torch::ones_like(ids);
  {
    torch::NoGradGuard no_grad;
    model->forward(ids, mask);  // warm-up
    row.fwd_ms = best_ms(iters, [&] { model->forward(ids, mask); });
  }
  for (auto& p : model->parameters()) p.requires_grad_(true);
  row.fwdbwd_ms = best_ms(iters, [&] {
    model->zero_grad();
    model->forward(ids, mask).to(torch::kFloat32).logsumexp(-1).mean().backward();
  });

  torch::NoGradGuard no_grad;
  double nll_sum = 0;
  std::int64_t tokens = 0;
  for (const auto& seq : sequences) {
    if (seq.size() < 2) continue;
    const torch::Tensor s = torch::tensor(seq).view({1, -1});
    const torch::Tensor logits = model->forward(s, torch::ones_like(s)).to(torch::kFloat32);
    const std::int64_t n = s.size(1) - 1;
    nll_sum += torch::nn::functional::cross_entropy(
                   logits[0].slice(0, 0, n), s[0].slice(0, 1),
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
    tokens += n;
  }
  row.nll = nll_sum / static_cast<double>(std::max<std::int64_t>(tokens, 1));
  return row;
}

int run_bench_quant(const std::vector<std::string>& args) {
  std::string model_dir, data, dtype_name;
  std::vector<std::string> plugin_dirs, only;
  std::size_t max_examples = 0;
  std::int64_t seq_len = 0;
  int iters = 0;
  po::options_description opts(
      "rlhf-host bench-quant --model DIR --data FILE [options]\n"
      "Compares every installed quantizer plugin (default settings) on one model");
  opts.add_options()("help,h", "show this help")(
      "model", po::value(&model_dir)->required(),
      "Hugging Face model directory (dense, or pre-quantized)")(
      "data", po::value(&data)->required(),
      "eval texts: .jsonl (text | prompt+completion/chosen) "
      "or one text per line")("max-examples", po::value(&max_examples)->default_value(32),
                              "eval texts to use")(
      "seq-len", po::value(&seq_len)->default_value(128), "truncate each text to this many tokens")(
      "dtype", po::value(&dtype_name)->default_value("float32"), "compute dtype")(
      "iters", po::value(&iters)->default_value(3), "timing repetitions (best is reported)")(
      "quantizer", po::value(&only)->composing(), "only these quantizers (repeatable)")(
      "plugin-path", po::value(&plugin_dirs)->composing(), "extra plugin folder");
  po::variables_map vm;
  if (!rlhf::host::parse_subcommand_options("bench-quant", opts, args, vm)) return 0;
  const auto dtype = rlhf::host::parse_compute_dtype(dtype_name, "bench-quant: --dtype");

  const auto tokenizer = rlhf::Tokenizer::load(model_dir);
  std::vector<std::vector<std::int64_t>> sequences;
  for (const auto& text : read_texts(data, max_examples)) {
    auto ids = tokenizer->encode(text, true, false);
    if (static_cast<std::int64_t>(ids.size()) > seq_len)
      ids.resize(static_cast<std::size_t>(seq_len));
    sequences.push_back(std::move(ids));
  }

  std::vector<fs::path> dirs(plugin_dirs.begin(), plugin_dirs.end());
  rlhf::host::PluginRegistry registry(rlhf::host::plugin_search_path(dirs));
  // A pre-quantized checkpoint: its own quantizer's row loads it as stored, the others quantize
  // its dequantized weights, which are the reference.
  const auto checkpoint = rlhf::host::checkpoint_quantization(model_dir);
  const auto stored = rlhf::host::quantizer_for_model(registry, model_dir, nullptr, "");
  if (checkpoint)
    std::cout << "bench-quant: " << model_dir << " is stored as " << checkpoint->format
              << "; the reference is its dequantized weights\n";

  std::map<std::string, torch::Tensor> reference;  // dense fp32 projections
  {
    rlhf::LoadOptions load;
    load.quantizer = stored.get();
    const auto dense = rlhf::load_causal_lm(model_dir, load);
    for (const auto& [path, linear] : dense->named_linears())
      reference[path] = linear->weight()->dense(torch::kFloat32);
  }

  std::vector<Row> rows;
  for (const auto& name : registry.names(rlhf::PluginKind::quantizer)) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    const auto* record = registry.find(rlhf::PluginKind::quantizer, name);
    if (!record || !record->abi_ok) {
      std::cerr << "bench-quant: skipping '" << name << "' (ABI mismatch)\n";
      continue;
    }
    try {
      auto q = registry.create<rlhf::Quantizer>(rlhf::PluginKind::quantizer, name, rlhf::Config());
      // The checkpoint's own format loads as stored: its row measures the stored weights.
      rlhf::Quantizer* source = checkpoint && checkpoint->plugin != name ? stored.get() : nullptr;
      rows.push_back(measure(name, q.get(), model_dir, source, reference, sequences, dtype, iters));
    } catch (const rlhf::Error& e) {
      std::cerr << "bench-quant: skipping '" << name << "': " << e.what() << "\n";
    }
  }
  std::printf("%-12s %-8s %14s %12s %12s %10s %12s %10s %10s\n", "quantizer", "format",
              "base bytes", "rel frob", "max abs", "fwd ms", "fwd+bwd ms", "eval NLL", "ppl");
  for (const auto& r : rows)
    std::printf("%-12s %-8s %14lld %12.5f %12.6f %10.2f %12.2f %10.4f %10.3f\n", r.name.c_str(),
                r.format.c_str(), static_cast<long long>(r.bytes), r.rel_frobenius, r.max_abs,
                r.fwd_ms, r.fwdbwd_ms, r.nll, std::exp(r.nll));
  return rows.empty() ? 1 : 0;
}

}  // namespace

RLHF_SUBCOMMAND("bench-quant",
                "compare every installed quantizer: bytes, reconstruction error, time, eval NLL",
                run_bench_quant)
