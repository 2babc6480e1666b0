#include "rlhf/toolkit/causal_lm_check.hpp"

#include "loaded_tensors.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf {

namespace fs = std::filesystem;

namespace {

std::string shape_string(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

const SafetensorsEntry& expect_checkpoint_tensor(const SafetensorsCheckpoint& checkpoint,
                                                 const fs::path& dir, const std::string& name,
                                                 at::IntArrayRef shape) {
  if (!checkpoint.contains(name))
    throw Error(dir.string() + ": tensor '" + name + "' is missing from the checkpoint");
  const auto& e = checkpoint.entry(name);
  if (at::IntArrayRef(e.shape) != shape)
    throw Error(checkpoint.file_of(name).string() + ": tensor '" + name + "' has shape " +
                shape_string(e.shape) + " but config.json implies " + shape_string(shape));
  if (!at::isFloatingType(e.scalar_type))
    throw Error(checkpoint.file_of(name).string() + ": tensor '" + name + "' has dtype " + e.dtype +
                "; a weight must be floating-point (F32, F16, BF16 or F64)");
  return e;
}

std::shared_ptr<CausalLM> check_causal_lm(const fs::path& dir, const LoadOptions& options) {
  // The same steps, in the same order and with the same messages, as load_causal_lm.
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": model directory does not exist");
  ModelConfig config = ModelConfig::from_json_file(dir / "config.json");
  const SafetensorsCheckpoint checkpoint(dir);
  prepare_sequence_classifier_config(config, checkpoint);
  const TrackedCheckpoint tracked(checkpoint);
  std::vector<std::string> prequantized_modules;

  const auto meta = torch::TensorOptions().dtype(options.dtype).device(torch::kMeta);
  WeightInit init;
  init.tensor = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    expect_checkpoint_tensor(checkpoint, dir, name, shape);
    tracked.mark(name);
    return torch::empty(shape, meta).requires_grad_(true);
  };
  init.linear = [&](const std::string& module, std::int64_t out,
                    std::int64_t in) -> std::shared_ptr<LinearWeight> {
    const std::string name = module + ".weight";
    const bool prequantized = options.quantizer && module != "lm_head" &&
                              checkpoint.contains(name) &&
                              !at::isFloatingType(checkpoint.entry(name).scalar_type);
    if (!prequantized) expect_checkpoint_tensor(checkpoint, dir, name, {out, in});
    if (prequantized)
      prequantized_modules.push_back(module);
    else
      tracked.mark(name);
    return std::make_shared<DenseWeight>(torch::empty({out, in}, meta).requires_grad_(true));
  };
  auto model = std::make_shared<CausalLM>(config, options.dtype, init);
  attach_checkpoint_score_head(*model, checkpoint, tracked, /*weightless=*/true);
  check_all_tensors_used(config, checkpoint, tracked, prequantized_modules);
  return model;
}

}  // namespace rlhf
