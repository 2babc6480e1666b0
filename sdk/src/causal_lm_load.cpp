// Loading a CausalLM from a Hugging Face directory and saving it back in the same layout.
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "causal_lm_impl.hpp"
#include "loaded_tensors.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/toolkit/causal_lm_check.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "torch_names.hpp"

namespace rlhf {

namespace fs = std::filesystem;

std::shared_ptr<CausalLM> load_causal_lm(const fs::path& dir, const LoadOptions& options) {
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": model directory does not exist");
  ModelConfig config = ModelConfig::from_json_file(dir / "config.json");
  const SafetensorsCheckpoint checkpoint(dir);
  prepare_sequence_classifier_config(config, checkpoint);
  const TrackedCheckpoint tracked(checkpoint);
  std::vector<std::string> prequantized;

  // Each weight is read from the mapping, converted in place of the previous temporary, and
  // owned by the model alone: peak memory is the model plus one tensor. Every floating-point
  // tensor is checked to be finite as it is read (SafetensorsFile::load).
  // (`rlhf-host --check` runs the same checks without reading: check_causal_lm.)
  auto read = [&](const std::string& name, at::IntArrayRef shape) {
    expect_checkpoint_tensor(checkpoint, dir, name, shape);
    return tracked.load(name);
  };
  WeightInit init;
  init.tensor = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    return read(name, shape).to(options.device, options.dtype).requires_grad_(true);
  };
  init.linear = [&](const std::string& module, std::int64_t out,
                    std::int64_t in) -> std::shared_ptr<LinearWeight> {
    // lm_head is never quantized (bitsandbytes keeps it dense too).
    if (options.quantizer && module != "lm_head") {
      if (auto w = options.quantizer->load_prequantized(tracked, module, options.dtype)) {
        prequantized.push_back(module);
        return w;
      }
      auto w = options.quantizer->quantize(read(module + ".weight", {out, in}).to(options.device),
                                           module, options.dtype);
      if (!w) throw Error(module + ": the quantizer returned no weight");
      return w;
    }
    return std::make_shared<DenseWeight>(
        read(module + ".weight", {out, in}).to(options.device, options.dtype).requires_grad_(true));
  };
  std::shared_ptr<CausalLM> model;
  try {
    model = std::make_shared<CausalLM>(config, options.dtype, init);
  } catch (const c10::Error& e) {
    // e.g. out of memory on the device: the model folder, not a LibTorch backtrace.
    throw Error(dir.string() + ": loading the model failed: " + torch_error_line(e));
  }
  attach_checkpoint_score_head(*model, checkpoint, tracked, /*weightless=*/false);
  check_all_tensors_used(config, checkpoint, tracked, prequantized);
  return model;
}

void CausalLM::save_pretrained(const fs::path& dir, std::int64_t max_shard_bytes,
                               const std::string& extra_config_json) const {
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(config_.to_json());
  config["torch_dtype"] = dtype_name(dtype_);
  if (!extra_config_json.empty()) {
    nlohmann::ordered_json extra;
    try {
      extra = nlohmann::ordered_json::parse(extra_config_json);
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("save_pretrained: extra config is not valid JSON: ") + e.what());
    }
    if (!extra.is_object()) throw Error("save_pretrained: extra config must be a JSON object");
    for (auto it = extra.begin(); it != extra.end(); ++it) config[it.key()] = it.value();
  }

  // Everything goes into a sibling temporary folder first, then each file is renamed into
  // `dir`, so an interrupted save never leaves a half-written checkpoint under the real names.
  const fs::path target = dir.has_filename() ? dir : dir.parent_path();
  const fs::path tmp = target.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write_file_atomically(tmp / "config.json", config.dump(2) + "\n");
    // What transformers' save_pretrained writes for a model without generation settings of its
    // own (GenerationConfig.from_model_config): the special token ids.
    nlohmann::ordered_json generation;
    generation["bos_token_id"] = config_.bos_token_id;
    if (config_.eos_token_ids.size() == 1)
      generation["eos_token_id"] = config_.eos_token_ids[0];
    else
      generation["eos_token_id"] = config_.eos_token_ids;
    if (config_.pad_token_id) generation["pad_token_id"] = *config_.pad_token_id;
    write_file_atomically(tmp / "generation_config.json", generation.dump(2) + "\n");
    save_safetensors_checkpoint(tmp, hf_state_dict(), max_shard_bytes, "model");
    fs::create_directories(target);
    for (const auto& f : fs::directory_iterator(target)) {
      const std::string n = f.path().filename().string();
      if (n == "model.safetensors" || n == "model.safetensors.index.json" ||
          (n.rfind("model-", 0) == 0 && f.path().extension() == ".safetensors"))
        fs::remove(f.path());
    }
    for (const auto& f : fs::directory_iterator(tmp))
      fs::rename(f.path(), target / f.path().filename());
    fs::remove_all(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace rlhf
