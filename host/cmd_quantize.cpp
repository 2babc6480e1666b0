// `rlhf-host quantize`: loads a Hugging Face model directory through a quantizer plugin and
// saves it under that quantizer's checkpoint keys (for nf4: transformers' bitsandbytes 4-bit
// keys, quant_state JSON, and "quantization_config" in config.json), so the result loads as-is
// here and in transformers + bitsandbytes. The quantizer comes from the plugin registry, so a
// third-party quantizer works with no host rebuild. A pre-quantized --model in the requested
// format (same plugin, no --set) is written as stored; otherwise its weights are dequantized
// once and quantized anew (checkpoint_quantizer.hpp).
#include <boost/program_options.hpp>
#include <iostream>

#include "checkpoint_quantizer.hpp"
#include "model_output.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "quant_cli.hpp"
#include "requantize.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/tokenizer_files.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

int run_quantize(const std::vector<std::string>& args) {
  std::string model_dir, out, quantizer_name, dtype_name;
  std::vector<std::string> sets, plugin_dirs;
  std::int64_t max_shard_mb = 0;
  bool force = false;
  po::options_description opts(
      "rlhf-host quantize --model DIR --quantizer NAME --out DIR [--set key=value ...]\n"
      "Saves a model quantized by a quantizer plugin in its checkpoint format");
  opts.add_options()("help,h", "show this help")("model", po::value(&model_dir)->required(),
                                                 "Hugging Face model directory to read")(
      "quantizer", po::value(&quantizer_name)->default_value("nf4"), "quantizer plugin name")(
      "out", po::value(&out)->required(), "output model directory")(
      "set", po::value(&sets)->composing(),
      "quantizer setting, e.g. --set blocksize=64 --set double_quant=true")(
      "dtype", po::value(&dtype_name)->default_value("float32"),
      "compute dtype recorded for the quantized weights: float32 | bfloat16 | float16")(
      "max-shard-mb", po::value(&max_shard_mb)->default_value(5120), "shard size limit")(
      "plugin-path", po::value(&plugin_dirs)->composing(), "extra plugin folder")(
      "force", po::bool_switch(&force), "replace an existing output directory");
  po::variables_map vm;
  if (!rlhf::host::parse_subcommand_options("quantize", opts, args, vm)) return 0;
  const auto dtype = rlhf::host::parse_compute_dtype(dtype_name, "quantize: --dtype");
  rlhf::host::ModelOutput output("quantize", out, force);

  std::vector<fs::path> dirs(plugin_dirs.begin(), plugin_dirs.end());
  rlhf::host::PluginRegistry registry(rlhf::host::plugin_search_path(dirs));
  const rlhf::Config config = rlhf::host::config_from_sets(sets, "--set");
  auto quantizer =
      registry.create<rlhf::Quantizer>(rlhf::PluginKind::quantizer, quantizer_name, config);
  config.check_no_unknown_keys();

  const auto stored = rlhf::host::checkpoint_quantization(model_dir);
  const bool as_stored = stored && stored->plugin == quantizer_name && sets.empty();
  const auto source = stored && !as_stored
                          ? rlhf::host::quantizer_for_model(registry, model_dir, nullptr, "")
                          : nullptr;
  rlhf::LoadOptions load;
  load.dtype = dtype;
  load.quantizer = source ? source.get() : quantizer.get();
  const auto model = rlhf::load_causal_lm(model_dir, load);
  if (source) {
    const int n = rlhf::host::requantize_projections(*model, quantizer.get());
    std::cout << "quantize: dequantized the " << n << " projections of " << model_dir << " ("
              << stored->format << ") once and quantized them with " << quantizer_name << "\n";
  }
  std::int64_t base_bytes = 0, params = 0;
  for (const auto& [name, linear] : model->named_linears()) {
    base_bytes += linear->weight()->storage_bytes();
    params += linear->in_features() * linear->out_features();
  }

  // The quantizer gives transformers' quantization_config object; config.json nests it.
  // Written as stored, the checkpoint keeps its own quantization_config (it describes the
  // tensors; the plugin's defaults may not).
  const std::string qconfig = as_stored ? stored->json : quantizer->quantization_config_json();
  model->save_pretrained(output.staging(), max_shard_mb << 20,
                         qconfig.empty() ? "" : "{\"quantization_config\": " + qconfig + "}");
  rlhf::host::copy_side_files(model_dir, output.staging());
  // The source's tokenizer files and chat template travel unchanged; what it lacks of what
  // transformers needs (special_tokens_map.json, pad ids, …) is added.
  rlhf::complete_saved_folder(output.staging(), rlhf::SavedFolder::model, model_dir, std::nullopt);
  output.commit();
  const fs::path& target = output.target();
  std::cout << "quantize: wrote " << target.string() << " (" << quantizer_name << ", " << params
            << " projection parameters in " << base_bytes << " bytes, "
            << static_cast<double>(base_bytes) /
                   static_cast<double>(std::max<std::int64_t>(1, params))
            << " bytes/parameter)\n";
  return 0;
}

}  // namespace

RLHF_SUBCOMMAND("quantize", "save a model quantized by a quantizer plugin (e.g. nf4)", run_quantize)
