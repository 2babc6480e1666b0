#include "classifier_reward_model.hpp"

#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/sequence_classifier.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf::reward_classifier {

namespace fs = std::filesystem;

namespace {

// The chat template of `dir`'s tokenizer_config.json when rlhf-host knows it.
std::optional<ChatTemplate> folder_template(const fs::path& dir) {
  std::ifstream in(dir / "tokenizer_config.json");
  if (!in) return std::nullopt;
  const auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("chat_template") ||
      !config["chat_template"].is_string())
    return std::nullopt;
  return ChatTemplate::from_jinja(config["chat_template"].get<std::string>());
}

}  // namespace

ClassifierRewardModel::ClassifierRewardModel(const Config& config) {
  path_ = config.require<std::string>("path");
  if (path_.empty()) config.fail("path", "must name a reward model folder");
  batch_size_ = config.get<std::int64_t>("batch_size", 8);
  if (batch_size_ < 1) config.fail("batch_size", "must be >= 1");
  dtype_ = config.get_optional<std::string>("dtype");
  if (dtype_ && *dtype_ != "float32" && *dtype_ != "bfloat16")
    config.fail("dtype", "must be \"float32\" or \"bfloat16\"");
  chat_template_ = config.get_optional<std::string>("chat_template");
  if (chat_template_ && *chat_template_ != "auto") {
    try {
      ChatTemplate::get(*chat_template_);
    } catch (const Error& e) {
      config.fail("chat_template", e.what());
    }
  }
  max_length_ = config.get<std::int64_t>("max_length", 1024);
  max_prompt_length_ = config.get<std::int64_t>("max_prompt_length", 512);
  if (max_length_ < 1) config.fail("max_length", "must be >= 1");
  if (max_prompt_length_ < 0) config.fail("max_prompt_length", "must be >= 0");
}

void ClassifierRewardModel::setup(StageContext& ctx) {
  LoadOptions options;
  options.device = ctx.device;
  options.dtype = !dtype_ ? ctx.dtype : *dtype_ == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  model_ = load_sequence_classifier(path_, options);
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
  tokenizer_ = Tokenizer::load(path_);
  // "auto" (here or the stage's): the reward folder's or the stage model's own template.
  if (chat_template_)
    template_ = ChatTemplate::for_model(*chat_template_, path_);
  else if (auto known = folder_template(path_))
    template_ = *known;
  else
    template_ = ChatTemplate::for_model(ctx.chat_template, ctx.model_path);
  if (ctx.logger)
    ctx.logger->info("[{}] reward model: classifier {} (chat template {}, {})", ctx.stage_name,
                     path_, template_.name(),
                     options.dtype == torch::kBFloat16 ? "bfloat16" : "float32");
}

PromptCompletionIds ClassifierRewardModel::tokenize(const Example& prompt,
                                                    const std::string& completion) const {
  if (!tokenizer_) throw Error("classifier reward model: score() before setup()");
  PromptCompletionIds row =
      template_.encode(*tokenizer_, prompt.prompt, {Message{"assistant", completion}});
  truncate(row, max_length_, max_prompt_length_);
  return row;
}

torch::Tensor ClassifierRewardModel::score(const std::vector<Example>& prompts,
                                           const std::vector<std::string>& completions) {
  if (!model_) throw Error("classifier reward model: score() before setup()");
  if (prompts.size() != completions.size())
    throw Error("classifier reward model: " + std::to_string(prompts.size()) + " prompts but " +
                std::to_string(completions.size()) + " completions");
  torch::NoGradGuard no_grad;
  const torch::Tensor head = score_head(*model_);
  std::vector<torch::Tensor> scores;
  const auto n = static_cast<std::int64_t>(prompts.size());
  for (std::int64_t start = 0; start < n; start += batch_size_) {
    std::vector<PromptCompletionIds> rows;
    for (std::int64_t i = start; i < std::min(n, start + batch_size_); ++i)
      rows.push_back(tokenize(prompts[i], completions[i]));
    Batch batch = collate(rows, tokenizer_->pad_id(), Padding::left);
    scores.push_back(last_token_scores(*model_, head, batch).to(torch::kCPU));
  }
  if (scores.empty()) return torch::zeros({0}, torch::kFloat32);
  return torch::cat(scores).to(torch::kFloat32);
}

}  // namespace rlhf::reward_classifier
