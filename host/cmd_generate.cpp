// `rlhf-host generate`: completions of prompts by a model folder, greedy or sampled, through the
// SDK's one generation function (rlhf/toolkit/generation.hpp: batched, left-padded, KV cache).
// Prints the completion of --prompt, or writes one JSON line per --data record to --out; the speed
// (new tokens per second of decoding) goes to stderr.
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "adapter_folder.hpp"
#include "checkpoint_quantizer.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "prompt_file.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/generation.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using rlhf::host::UsageError;

namespace {

struct Options {
  std::string model, prompt, data, out, chat_template, dtype, adapter;
  std::int64_t max_new_tokens = 128, top_k = 0, batch_size = 8;
  double temperature = 0, top_p = 1;
  std::uint64_t seed = 0;
};

// Combinations and ranges program_options cannot check: a bad command line (exit 2).
void check_options(const Options& o, const po::variables_map& vm) {
  if (vm.count("prompt") == vm.count("data"))
    throw UsageError("generate: give either --prompt TEXT or --data FILE (see --help)");
  if (vm.count("data") && !vm.count("out"))
    throw UsageError("generate: --data needs --out FILE for the completions");
  if (o.max_new_tokens < 1) throw UsageError("generate: --max-new-tokens must be at least 1");
  if (o.batch_size < 1) throw UsageError("generate: --batch-size must be at least 1");
  if (!std::isfinite(o.temperature) || o.temperature < 0)
    throw UsageError("generate: --temperature must be 0 (greedy) or positive, not " +
                     std::to_string(o.temperature));
  if (o.top_k < 0) throw UsageError("generate: --top-k must be 0 (off) or positive");
  if (!(o.top_p > 0 && o.top_p <= 1)) throw UsageError("generate: --top-p must be in (0, 1]");
  const auto given = [&vm](const char* name) { return vm.count(name) && !vm[name].defaulted(); };
  if (o.temperature == 0 && (given("top-k") || given("top-p")))
    throw UsageError("generate: --top-k and --top-p filter sampling; give --temperature > 0");
  if (o.dtype != "float32" && o.dtype != "bfloat16")
    throw UsageError("generate: --dtype must be float32 or bfloat16, not '" + o.dtype + "'");
}

// --chat-template, else the model folder's own template ("auto": a named one rlhf-host saved,
// or its Jinja text), else "none".
rlhf::ChatTemplate chat_template(const Options& o) {
  if (!o.chat_template.empty() && o.chat_template != "auto") {
    try {
      return rlhf::ChatTemplate::get(o.chat_template);
    } catch (const rlhf::Error& e) {
      throw UsageError(std::string("generate: --chat-template: ") + e.what());
    }
  }
  return rlhf::ChatTemplate::for_model("auto", o.model);
}

// The model generation runs on: a pre-quantized checkpoint through the quantizer its
// quantization_config names, and with `--adapter DIR` that PEFT folder attached
// (adapter_folder.hpp). The plugin objects stay alive with the model.
struct LoadedModel {
  std::shared_ptr<rlhf::Quantizer> quantizer;
  std::shared_ptr<rlhf::CausalLM> model;
  std::shared_ptr<rlhf::Adapter> adapter;
};
LoadedModel load_model(const Options& o) {
  rlhf::host::PluginRegistry registry(rlhf::host::plugin_search_path({}));
  LoadedModel out;
  out.quantizer = rlhf::host::quantizer_for_model(registry, o.model, nullptr, "");
  rlhf::LoadOptions load;
  load.dtype = o.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  load.quantizer = out.quantizer.get();
  out.model = rlhf::load_causal_lm(o.model, load);
  if (!o.adapter.empty()) {
    out.adapter = rlhf::host::load_adapter_folder(registry, o.adapter, *out.model);
    out.adapter->set_training(false);
  }
  out.model->eval();
  return out;
}

struct Completion {
  std::vector<std::int64_t> ids;  // new tokens, the stop token included when one was reached
  std::string text;               // decoded without the stop token and special tokens
};

int run_generate(const std::vector<std::string>& args) {
  Options o;
  po::options_description opts(
      "rlhf-host generate --model DIR (--prompt TEXT | --data FILE --out FILE) [options]\n"
      "Completes prompts (chat template applied); greedy unless --temperature > 0");
  opts.add_options()("help,h", "show this help")("model", po::value(&o.model)->required(),
                                                 "Hugging Face model directory")(
      "prompt", po::value(&o.prompt), "one prompt (a user message); its completion is printed")(
      "data", po::value(&o.data),
      "JSONL of prompts (`prompt`: a string or a list of messages; any pipeline data layout)")(
      "out", po::value(&o.out),
      "output JSONL: {prompt, completion, completion_ids} per prompt, in input order")(
      "chat-template", po::value(&o.chat_template),
      "auto (the default: the model folder's own template, else none) | zephyr | chatml | "
      "llama-2 | mistral | mistral-v0.2 | mistral-v0.3 | none")(
      "max-new-tokens", po::value(&o.max_new_tokens)->default_value(128),
      "new tokens per prompt at most (stops earlier at EOS)")(
      "temperature", po::value(&o.temperature)->default_value(0.0),
      "0 = greedy (argmax); > 0 samples from softmax(logits / temperature)")(
      "top-k", po::value(&o.top_k)->default_value(0), "sample among the k most likely (0 = off)")(
      "top-p", po::value(&o.top_p)->default_value(1.0),
      "sample from the smallest set with probability >= p (1 = off)")(
      "seed", po::value(&o.seed)->default_value(0),
      "sampling seed (same seed and batch size: same completions)")(
      "batch-size", po::value(&o.batch_size)->default_value(8), "prompts decoded together")(
      "dtype", po::value(&o.dtype)->default_value("float32"), "float32 | bfloat16")(
      "adapter", po::value(&o.adapter), "PEFT adapter folder to attach (e.g. a stage's adapter/)");
  po::variables_map vm;
  if (!rlhf::host::parse_subcommand_options("generate", opts, args, vm)) return 0;
  check_options(o, vm);
  const rlhf::ChatTemplate chat = chat_template(o);

  std::vector<rlhf::host::GenerationPrompt> prompts;
  if (vm.count("prompt"))
    prompts.push_back({{{"user", o.prompt}}, false, "--prompt"});
  else
    prompts = rlhf::host::read_prompt_file(o.data);

  const LoadedModel loaded = load_model(o);
  const auto& model = loaded.model;
  const auto tokenizer = rlhf::Tokenizer::load(o.model);
  std::vector<std::vector<std::int64_t>> prompt_ids;
  for (const auto& p : prompts) {
    prompt_ids.push_back(chat.encode(*tokenizer, p.messages, {}).prompt);
    if (prompt_ids.back().empty())
      throw rlhf::Error(p.source + ": the prompt encodes to no tokens");
  }

  rlhf::GenerationConfig config;
  config.max_new_tokens = o.max_new_tokens;
  config.do_sample = o.temperature > 0;
  config.temperature = config.do_sample ? o.temperature : 1.0;
  config.top_k = o.top_k;
  config.top_p = o.top_p;
  config.eos_token_ids = rlhf::stop_token_ids(o.model, *model, *tokenizer, chat);
  config.pad_token_id = tokenizer->pad_id();

  std::vector<Completion> completions;
  std::int64_t new_tokens = 0;
  double seconds = 0;
  const auto batch = static_cast<std::size_t>(o.batch_size);
  for (std::size_t start = 0; start < prompt_ids.size(); start += batch) {
    const std::size_t end = std::min(prompt_ids.size(), start + batch);
    const std::vector<std::vector<std::int64_t>> rows(
        prompt_ids.begin() + static_cast<std::ptrdiff_t>(start),
        prompt_ids.begin() + static_cast<std::ptrdiff_t>(end));
    config.seed = o.seed + start;  // each batch its own stream, fixed by --seed
    const auto started = std::chrono::steady_clock::now();
    const auto result = rlhf::generate(*model, rows, config);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (const auto& ids : result.completions) {
      new_tokens += static_cast<std::int64_t>(ids.size());
      completions.push_back({ids, rlhf::completion_text(*tokenizer, ids, config.eos_token_ids)});
    }
  }

  if (!o.out.empty()) {
    // Under a temporary name, renamed when whole (rlhf/toolkit/file_writer.hpp).
    rlhf::write_file_atomically(o.out, [&](rlhf::FileWriter& out) {
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        Json line;
        line["prompt"] = rlhf::host::prompt_json(prompts[i]);
        line["completion"] = completions[i].text;
        line["completion_ids"] = completions[i].ids;
        out.write(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      }
    });
  } else {
    std::cout << completions[0].text << "\n" << std::flush;  // before the speed on stderr
  }
  std::cerr << "generate: " << prompts.size() << " prompt(s), " << new_tokens << " new tokens in "
            << std::fixed << std::setprecision(3) << seconds << " s: " << std::setprecision(1)
            << (seconds > 0 ? static_cast<double>(new_tokens) / seconds : 0.0)
            << " tokens/s (batch size " << o.batch_size << ", "
            << (config.do_sample ? "sampling" : "greedy") << ", " << o.dtype << ")"
            << (o.out.empty() ? "" : " → " + o.out) << "\n";
  return 0;
}

}  // namespace

RLHF_SUBCOMMAND("generate",
                "complete prompts with a model folder (greedy or sampled, batched, KV cache)",
                run_generate)
