#include "loaded_tensors.hpp"

#include <algorithm>

#include "rlhf/error.hpp"

namespace rlhf {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Decoder layers the checkpoint holds: 1 + the largest N of "model.layers.N.…" (0 if none).
std::int64_t checkpoint_layers(const std::vector<std::string>& names) {
  static const std::string prefix = "model.layers.";
  std::int64_t layers = 0;
  for (const auto& n : names) {
    if (n.rfind(prefix, 0) != 0) continue;
    std::size_t end = n.find('.', prefix.size());
    const std::string index = n.substr(prefix.size(), end - prefix.size());
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos ||
        index.size() > 9)
      continue;
    layers = std::max<std::int64_t>(layers, std::stoll(index) + 1);
  }
  return layers;
}

}  // namespace

void check_all_tensors_used(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
                            const TrackedCheckpoint& tracked,
                            const std::vector<std::string>& prequantized) {
  std::vector<std::string> unused;
  const auto names = checkpoint.names();
  for (const auto& name : names) {
    if (tracked.asked(name) || ends_with(name, "rotary_emb.inv_freq")) continue;
    bool quant_state = false;
    for (const auto& module : prequantized)
      quant_state = quant_state || (name.rfind(module + ".", 0) == 0 && name != module + ".bias");
    if (quant_state) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings &&
        checkpoint.entry(name).shape == checkpoint.entry("model.embed_tokens.weight").shape &&
        torch::equal(checkpoint.load(name), checkpoint.load("model.embed_tokens.weight")))
      continue;
    unused.push_back(name);
  }
  if (unused.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < unused.size() && i < 3; ++i)
    list += (i ? ", '" : "'") + unused[i] + "'";
  if (unused.size() > 3) list += ", …";
  std::string hint;
  const std::int64_t layers = checkpoint_layers(names);
  if (layers > config.num_hidden_layers)
    hint = "; the checkpoint has " + std::to_string(layers) +
           " layers but config.json 'num_hidden_layers' is " +
           std::to_string(config.num_hidden_layers);
  else if (config.tie_word_embeddings && checkpoint.contains("lm_head.weight") &&
           std::find(unused.begin(), unused.end(), "lm_head.weight") != unused.end())
    hint =
        "; config.json 'tie_word_embeddings' is true but lm_head.weight differs from the "
        "embeddings";
  throw Error(
      checkpoint.file_of(unused.front()).string() + ": " + std::to_string(unused.size()) +
      (unused.size() == 1 ? " tensor of the checkpoint is" : " tensors of the checkpoint are") +
      " not part of the model its config.json describes (" + list + ")" + hint +
      ": a result saved from it would silently lack them");
}

}  // namespace rlhf
