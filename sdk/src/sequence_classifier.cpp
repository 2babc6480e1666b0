#include "rlhf/toolkit/sequence_classifier.hpp"

#include <torch/torch.h>

#include <set>

#include <nlohmann/json.hpp>

#include "causal_lm_impl.hpp"
#include "loaded_tensors.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "torch_names.hpp"

namespace rlhf {

namespace fs = std::filesystem;

namespace {

constexpr const char* kScoreModule = "score";

// The head's module: one parameter "weight" [1, H], as transformers' nn.Linear(H, 1, bias=False).
struct ScoreHead : torch::nn::Module {
  explicit ScoreHead(torch::Tensor w) { weight = register_parameter("weight", std::move(w)); }
  torch::Tensor weight;
};

std::string shape_string(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

const torch::Tensor& embeddings(const CausalLM& model) {
  return model.impl->model->embed_tokens->weight;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// W + delta(I)ᵀ in float32: the projection's effective weight [out, in] (linear.hpp: y = x Wᵀ
// [+ bias] [+ adapter(x)]), the identity fed in blocks of rows to bound memory.
torch::Tensor effective_weight(const Linear& linear) {
  const auto& adapter = linear.adapter();
  if (!adapter || !adapter->enabled()) return linear.weight()->dense(torch::kFloat32);
  // A copy: dense() of a float32 weight is the model's own tensor.
  torch::Tensor w = linear.weight()->dense(torch::kFloat32).clone();
  const bool was_training = adapter->training();
  adapter->set_training(false);  // no dropout in the folded delta
  const std::int64_t in = w.size(1);
  constexpr std::int64_t kBlock = 1024;
  for (std::int64_t start = 0; start < in; start += kBlock) {
    const std::int64_t n = std::min(kBlock, in - start);
    torch::Tensor x = torch::zeros({n, in}, w.options());
    x.narrow(1, start, n).copy_(torch::eye(n, w.options()));
    // Row i of the delta of e_{start+i} is column start+i of delta-as-a-matrix.
    w.narrow(1, start, n).add_(adapter->forward(x).to(torch::kFloat32).t());
  }
  adapter->set_training(was_training);
  return w;
}

}  // namespace

torch::Tensor score_head(const CausalLM& model) {
  for (const auto& child : model.named_children())
    if (child.key() == kScoreModule)
      if (auto head = std::dynamic_pointer_cast<ScoreHead>(child.value())) return head->weight;
  return {};
}

torch::Tensor attach_score_head(CausalLM& model, const torch::Tensor& weight) {
  const std::int64_t H = model.config().hidden_size;
  if (weight.dim() != 2 || weight.size(0) != 1 || weight.size(1) != H)
    throw Error("score head: weight has shape " + shape_string(weight.sizes()) + ", expected [1, " +
                std::to_string(H) + "] (one score per sequence, num_labels = 1)");
  const auto device = embeddings(model).device();
  torch::NoGradGuard no_grad;
  if (torch::Tensor existing = score_head(model); existing.defined()) {
    if (!existing.is_meta() && !weight.is_meta()) existing.copy_(weight);
    return existing;
  }
  auto head = std::make_shared<ScoreHead>(
      weight.detach().to(device, torch::kFloat32).clone());  // registered as requiring grad
  model.register_module(kScoreModule, head);
  return head->weight;
}

torch::Tensor init_score_head(CausalLM& model, double std) {
  const std::int64_t H = model.config().hidden_size;
  const auto device = embeddings(model).device();
  torch::Tensor w = torch::empty({1, H}, torch::TensorOptions(torch::kFloat32).device(device));
  if (!w.is_meta()) {
    // Drawn on the CPU generator (the one the host seeds), then moved.
    w = torch::empty({1, H}, torch::kFloat32).normal_(0.0, std).to(device);
  }
  return attach_score_head(model, w);
}

torch::Tensor last_token_index(const torch::Tensor& attention_mask) {
  const torch::Tensor mask = attention_mask.to(torch::kLong);
  if ((mask.sum(1) == 0).any().item<bool>())
    throw Error("last_token_index: a row has no real token (attention_mask all 0)");
  const torch::Tensor positions = torch::arange(mask.size(1), mask.options());
  return std::get<0>((mask * positions).max(1));
}

torch::Tensor last_token_scores(CausalLM& model, const torch::Tensor& score_weight,
                                const Batch& batch) {
  const torch::Tensor hidden = model.hidden_states(batch.input_ids, batch.attention_mask);
  const torch::Tensor last = last_token_index(batch.attention_mask).to(hidden.device());
  const torch::Tensor rows = torch::arange(hidden.size(0), last.options());
  const torch::Tensor h = hidden.index({rows, last}).to(torch::kFloat32);  // [B, H]
  return torch::matmul(h, score_weight.to(h.device()).t()).squeeze(-1);    // [B]
}

std::vector<std::pair<std::string, torch::Tensor>> sequence_classifier_state_dict(
    const CausalLM& model, const torch::Tensor& score_weight) {
  torch::NoGradGuard no_grad;
  const auto linears = model.named_linears();
  std::vector<std::pair<std::string, torch::Tensor>> out;
  std::set<std::string> done;
  for (auto& [name, tensor] : model.hf_state_dict()) {
    if (starts_with(name, "lm_head.")) continue;  // a SequenceClassification model has none
    const std::pair<std::string, std::shared_ptr<Linear>>* owner = nullptr;
    for (const auto& l : linears)
      if (starts_with(name, l.first + ".") && name != l.first + ".bias") owner = &l;
    if (!owner) {
      out.emplace_back(name, tensor);
      continue;
    }
    // The projection's weight (dense, or a quantizer's keys): its effective dense weight once.
    if (!done.insert(owner->first).second) continue;
    out.emplace_back(owner->first + ".weight", effective_weight(*owner->second).to(model.dtype()));
  }
  out.emplace_back("score.weight", score_weight.detach().to(torch::kFloat32));
  return out;
}

void save_sequence_classifier(const CausalLM& model, const torch::Tensor& score_weight,
                              const fs::path& dir) {
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(model.config().to_json());
  const std::string& type = model.config().model_type;
  config["architectures"] = {type == "mistral" ? "MistralForSequenceClassification"
                             : type == "qwen2" ? "Qwen2ForSequenceClassification"
                                               : "LlamaForSequenceClassification"};
  config["torch_dtype"] = dtype_name(model.dtype());
  // What transformers' PretrainedConfig writes for num_labels = 1.
  config["id2label"] = {{"0", "LABEL_0"}};
  config["label2id"] = {{"LABEL_0", 0}};
  config["num_labels"] = 1;
  fs::create_directories(dir);
  save_safetensors_checkpoint(dir, sequence_classifier_state_dict(model, score_weight),
                              std::int64_t{5} << 30, "model");
  write_file_atomically(dir / "config.json", config.dump(2) + "\n");
}

std::shared_ptr<CausalLM> load_sequence_classifier(const fs::path& dir,
                                                   const LoadOptions& options) {
  auto model = load_causal_lm(dir, options);
  if (!score_head(*model).defined())
    throw Error(dir.string() +
                ": no tensor 'score.weight': not a sequence-classification (reward) model; "
                "expected a folder the reward stage saved or a LlamaForSequenceClassification "
                "checkpoint");
  return model;
}

void prepare_sequence_classifier_config(ModelConfig& config,
                                        const SafetensorsCheckpoint& checkpoint) {
  const auto& a = config.architecture;
  const std::string suffix = "ForSequenceClassification";
  const bool classifier =
      a.size() > suffix.size() && a.compare(a.size() - suffix.size(), suffix.size(), suffix) == 0;
  // transformers' SequenceClassification models have no lm_head: the embeddings stand in as the
  // output projection (forward() stays defined; its logits mean nothing for such a model).
  if (classifier && !checkpoint.contains("lm_head.weight")) config.tie_word_embeddings = true;
}

void attach_checkpoint_score_head(CausalLM& model, const SafetensorsCheckpoint& checkpoint,
                                  const TrackedCheckpoint& tracked, bool weightless) {
  const std::string name = "score.weight";
  if (!checkpoint.contains(name)) return;
  const auto& e = checkpoint.entry(name);
  const std::int64_t H = model.config().hidden_size;
  if (at::IntArrayRef(e.shape) != at::IntArrayRef({1, H}))
    throw Error(checkpoint.file_of(name).string() + ": tensor 'score.weight' has shape " +
                shape_string(e.shape) +
                "; rlhf-host reads one score per sequence (num_labels = 1: [1, " +
                std::to_string(H) + "])");
  if (!at::isFloatingType(e.scalar_type))
    throw Error(checkpoint.file_of(name).string() + ": tensor 'score.weight' has dtype " + e.dtype +
                "; a weight must be floating-point");
  if (weightless) {
    tracked.mark(name);
    attach_score_head(model, torch::empty({1, H}, torch::TensorOptions().device(torch::kMeta)));
  } else {
    attach_score_head(model, tracked.load(name));
  }
}

}  // namespace rlhf
