// `rlhf-host logprobs`: per-example summed log-probs of the chosen and rejected completions of a
// preference JSONL file, one JSON line per example — output anyone can recompute with
// transformers (sum of log-softmax of the completion tokens, chat template applied).
// `--adapter DIR` evaluates the model with a PEFT adapter folder attached (adapter_folder.hpp);
// a pre-quantized model loads with the quantizer its config.json names (checkpoint_quantizer.hpp).
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "adapter_folder.hpp"
#include "checkpoint_quantizer.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/logprobs.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Pair {
  std::vector<rlhf::Message> prompt, chosen, rejected;
};

std::vector<rlhf::Message> messages_of(const json& j, const char* field, const std::string& role,
                                       const std::string& where) {
  const json& v = j[field];
  if (v.is_string()) return {rlhf::Message{role, v.get<std::string>()}};
  if (!v.is_array())
    throw rlhf::Error(where + ": field '" + field + "': expected a string or a list of messages");
  std::vector<rlhf::Message> out;
  for (const auto& m : v) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content"))
      throw rlhf::Error(where + ": a message needs \"role\" and \"content\"");
    for (const char* key : {"role", "content"})
      if (!m[key].is_string())
        throw rlhf::Error(where + ": field '" + field + "': message '" + key +
                          "' must be a string, not " + m[key].type_name());
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

// Standard {prompt, chosen, rejected} (strings or message lists), or the implicit-prompt
// layout {chosen: [msgs], rejected: [msgs]} sharing all messages but the last.
Pair parse_pair(const std::string& line, const std::string& where) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    throw rlhf::Error(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("chosen") || !j.contains("rejected"))
    throw rlhf::Error(where + ": needs \"chosen\" and \"rejected\"");
  Pair p;
  p.chosen = messages_of(j, "chosen", "assistant", where);
  p.rejected = messages_of(j, "rejected", "assistant", where);
  if (j.contains("prompt")) {
    p.prompt = messages_of(j, "prompt", "user", where);
  } else {
    if (p.chosen.size() < 2 || p.rejected.size() < 2)
      throw rlhf::Error(where + ": without \"prompt\", chosen/rejected must be conversations");
    p.prompt.assign(p.chosen.begin(), p.chosen.end() - 1);
    p.chosen.erase(p.chosen.begin(), p.chosen.end() - 1);
    p.rejected.erase(p.rejected.begin(), p.rejected.end() - 1);
  }
  return p;
}

int run_logprobs(const std::vector<std::string>& args) {
  std::string model_dir, data, out_path, template_name, dtype, adapter_dir;
  std::vector<std::string> plugin_dirs;
  std::int64_t batch_size = 4, max_length = 0, max_prompt_length = 0;
  po::options_description opts(
      "rlhf-host logprobs --model DIR --data FILE --out FILE [options]\n"
      "Writes {chosen_logps, rejected_logps, chosen_tokens, rejected_tokens} per example");
  opts.add_options()("help,h", "show this help")("model", po::value(&model_dir)->required(),
                                                 "Hugging Face model directory")(
      "data", po::value(&data)->required(), "preference JSONL (prompt/chosen/rejected)")(
      "out", po::value(&out_path)->required(), "output JSONL")(
      "chat-template", po::value(&template_name)->default_value("auto"),
      "auto (the model folder's own template, else none) | zephyr | chatml | llama-2 | mistral | "
      "mistral-v0.2 | mistral-v0.3 | none")("dtype", po::value(&dtype)->default_value("float32"),
                                            "float32 | bfloat16")(
      "batch-size", po::value(&batch_size)->default_value(4), "pairs per forward")(
      "max-length", po::value(&max_length)->default_value(0),
      "truncate prompt+completion to this many tokens (0 = no limit)")(
      "max-prompt-length", po::value(&max_prompt_length)->default_value(0),
      "keep the last N prompt tokens (0 = no limit)")(
      "adapter", po::value(&adapter_dir),
      "PEFT adapter folder to attach (e.g. a stage's adapter/)")(
      "plugin-path", po::value(&plugin_dirs)->composing(), "extra plugin folder");
  po::variables_map vm;
  if (!rlhf::host::parse_subcommand_options("logprobs", opts, args, vm)) return 0;
  if (dtype != "float32" && dtype != "bfloat16")
    throw rlhf::Error("logprobs: --dtype must be float32 or bfloat16, not '" + dtype + "'");
  if (batch_size < 1) throw rlhf::Error("logprobs: --batch-size must be at least 1");
  const auto chat = rlhf::ChatTemplate::for_model(template_name, model_dir);

  std::vector<Pair> pairs;
  {
    std::ifstream in(data);
    if (!in) throw rlhf::Error(data + ": cannot open");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
      if (line.find_first_not_of(" \t\r") != std::string::npos)
        pairs.push_back(parse_pair(line, data + ":" + std::to_string(n)));
  }
  if (pairs.empty()) throw rlhf::Error(data + ": no examples (the file is empty)");

  std::vector<fs::path> dirs(plugin_dirs.begin(), plugin_dirs.end());
  rlhf::host::PluginRegistry registry(rlhf::host::plugin_search_path(dirs));
  const auto quantizer = rlhf::host::quantizer_for_model(registry, model_dir, nullptr, "");
  rlhf::LoadOptions load;
  load.dtype = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  load.quantizer = quantizer.get();
  const auto model = rlhf::load_causal_lm(model_dir, load);
  const auto tokenizer = rlhf::Tokenizer::load(model_dir);
  std::shared_ptr<rlhf::Adapter> adapter;
  if (!adapter_dir.empty()) {
    adapter = rlhf::host::load_adapter_folder(registry, adapter_dir, *model);
    adapter->set_training(false);
  }
  model->eval();
  torch::NoGradGuard no_grad;

  const fs::path out_file(out_path);
  // Written under a temporary name and renamed: a failure (a full disk) names the file and
  // leaves no partial output (rlhf/toolkit/file_writer.hpp).
  rlhf::write_file_atomically(out_file, [&](rlhf::FileWriter& out) {
    for (std::size_t start = 0; start < pairs.size();
         start += static_cast<std::size_t>(batch_size)) {
      const std::size_t end = std::min(pairs.size(), start + static_cast<std::size_t>(batch_size));
      // Chosen rows first, then rejected: one concatenated forward
      // (docs/algorithms.md, "Notation").
      std::vector<rlhf::PromptCompletionIds> rows;
      for (int side = 0; side < 2; ++side)
        for (std::size_t i = start; i < end; ++i) {
          auto ids = chat.encode(*tokenizer, pairs[i].prompt,
                                 side == 0 ? pairs[i].chosen : pairs[i].rejected);
          if (max_length > 0 || max_prompt_length > 0)
            rlhf::truncate(ids, max_length, max_prompt_length);
          rows.push_back(std::move(ids));
        }
      const auto batch = rlhf::collate(rows, tokenizer->pad_id());
      const auto logps =
          rlhf::sequence_logps(rlhf::completion_logits(*model, batch, /*rows_per_example=*/2));
      const auto n = static_cast<std::int64_t>(end - start);
      for (std::int64_t i = 0; i < n; ++i) {
        nlohmann::ordered_json line;
        line["chosen_logps"] = logps.sum[i].item<double>();
        line["rejected_logps"] = logps.sum[n + i].item<double>();
        line["chosen_tokens"] = logps.tokens[i].item<std::int64_t>();
        line["rejected_tokens"] = logps.tokens[n + i].item<std::int64_t>();
        out.write(line.dump() + "\n");
      }
    }
  });
  std::cout << "logprobs: " << pairs.size() << " examples → " << out_file.string() << "\n";
  return 0;
}

}  // namespace

RLHF_SUBCOMMAND("logprobs",
                "write per-example chosen/rejected log-probs of a preference JSONL file",
                run_logprobs)
