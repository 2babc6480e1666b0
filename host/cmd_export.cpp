// `rlhf-host export`: a model, with a PEFT adapter merged into it, as a Hugging Face folder that
// transformers, vLLM or llama.cpp's converter loads: dense in --dtype, or quantized by
// --quantizer (e.g. nf4: transformers' bitsandbytes 4-bit layout). A pre-quantized --model loads
// as stored (checkpoint_quantizer.hpp); merging dequantizes each of its projections exactly once
// (in float32, the adapter's delta added, then the one rounding to --dtype), and says so.
// The folder is written under a temporary name and renamed (model_output.hpp).
#include <boost/program_options.hpp>
#include <iostream>

#include "adapter_folder.hpp"
#include "checkpoint_quantizer.hpp"
#include "model_output.hpp"
#include "pipeline.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "quant_cli.hpp"
#include "requantize.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/error.hpp"
#include "rlhf/finite.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// Quantized projections of `model` and their storage format ("nf4"), for the log line.
std::pair<int, std::string> quantized_projections(const rlhf::CausalLM& model) {
  int n = 0;
  std::string format;
  for (const auto& [path, linear] : model.named_linears())
    if (linear->weight()->format() != "dense") {
      ++n;
      format = linear->weight()->format();
    }
  return {n, format};
}

int run_export(const std::vector<std::string>& args) {
  std::string model_dir, adapter_dir, out, dtype_name, quantizer_name;
  std::vector<std::string> sets, plugin_dirs;
  std::int64_t max_shard_mb = 0;
  bool force = false;
  po::options_description opts(
      "rlhf-host export --model DIR [--adapter DIR] --out DIR [options]\n"
      "Writes the model, with the adapter merged into it, as a Hugging Face folder");
  opts.add_options()("help,h", "show this help")(
      "model", po::value(&model_dir)->required(),
      "Hugging Face model folder (dense or pre-quantized)")(
      "adapter", po::value(&adapter_dir), "PEFT adapter folder to merge (e.g. a stage's adapter/)")(
      "out", po::value(&out)->required(), "output model folder")(
      "dtype", po::value(&dtype_name)->default_value("float32"),
      "dtype of the written weights: float32 | bfloat16")(
      "quantizer", po::value(&quantizer_name),
      "quantize the merged projections with this plugin (e.g. nf4); default: dense")(
      "set", po::value(&sets)->composing(), "quantizer setting, e.g. --set double_quant=true")(
      "max-shard-mb", po::value(&max_shard_mb)->default_value(5120), "shard size limit")(
      "plugin-path", po::value(&plugin_dirs)->composing(), "extra plugin folder")(
      "force", po::bool_switch(&force), "replace an existing output folder");
  po::variables_map vm;
  if (!rlhf::host::parse_subcommand_options("export", opts, args, vm)) return 0;
  if (!sets.empty() && quantizer_name.empty())
    throw rlhf::host::UsageError("export: --set configures --quantizer, which is not given");
  if (max_shard_mb < 1) throw rlhf::host::UsageError("export: --max-shard-mb must be at least 1");
  torch::ScalarType dtype;
  try {
    dtype = rlhf::host::parse_dtype(dtype_name);
  } catch (const rlhf::Error& e) {
    throw rlhf::Error(std::string("export: --dtype: ") + e.what());
  }
  rlhf::host::ModelOutput output("export", out, force);

  std::vector<fs::path> dirs(plugin_dirs.begin(), plugin_dirs.end());
  rlhf::host::PluginRegistry registry(rlhf::host::plugin_search_path(dirs));
  std::shared_ptr<rlhf::Quantizer> quantizer;  // of the written folder
  if (!quantizer_name.empty()) {
    const rlhf::Config config = rlhf::host::config_from_sets(sets, "--set");
    quantizer =
        registry.create<rlhf::Quantizer>(rlhf::PluginKind::quantizer, quantizer_name, config);
    config.check_no_unknown_keys();
  }

  // A pre-quantized model stays quantized until the merge, which dequantizes it once.
  const auto source = rlhf::host::quantizer_for_model(registry, model_dir, nullptr, "");
  rlhf::LoadOptions load;
  load.dtype = dtype;
  load.quantizer = source.get();
  const auto model = rlhf::load_causal_lm(model_dir, load);
  const auto [quantized, format] = quantized_projections(*model);
  if (!adapter_dir.empty()) {
    const auto adapter = rlhf::host::load_adapter_folder(registry, adapter_dir, *model);
    adapter->merge();
  }
  // Projections the merge did not touch (all of them without --adapter) are dequantized here,
  // or quantized by --quantizer: each weight is turned into dense values once.
  rlhf::host::requantize_projections(*model, quantizer.get());
  if (quantized > 0)
    std::cout << "export: dequantized each of the " << quantized << " " << format
              << " projections of " << model_dir << " once, in float32"
              << (adapter_dir.empty() ? "" : ", merged the adapter")
              << (quantizer ? ", quantized with " + quantizer_name : ", stored as " + dtype_name)
              << "\n";

  // A non-finite weight is never saved (docs/reliability.md).
  for (const auto& [name, tensor] : model->hf_state_dict())
    if (const auto bad = rlhf::count_non_finite(tensor))
      throw rlhf::Error("export: merged tensor '" + name + "' has " + std::to_string(bad) +
                        " values that are NaN or infinite; nothing was written");

  const std::string qconfig = quantizer ? quantizer->quantization_config_json() : "";
  model->save_pretrained(output.staging(), max_shard_mb << 20,
                         qconfig.empty() ? "" : "{\"quantization_config\": " + qconfig + "}");
  rlhf::host::copy_side_files(model_dir, output.staging());
  output.commit();
  std::cout << "export: wrote " << output.target().string() << " ("
            << (adapter_dir.empty() ? "" : "adapter " + adapter_dir + " merged, ")
            << (quantizer ? "projections quantized with " + quantizer_name : "dense " + dtype_name)
            << ")\n";
  return 0;
}

}  // namespace

RLHF_SUBCOMMAND(
    "export", "write a model with an adapter merged as a Hugging Face folder (dense or quantized)",
    run_export)
