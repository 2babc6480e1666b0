#include "ppo_algorithm.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "completions.hpp"
#include "ppo_eval.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/reference_policy.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/generation.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "rollout.hpp"

namespace rlhf::ppo {

PpoAlgorithm::PpoAlgorithm(const Config& config) : options_(PpoOptions::read(config)) {}

namespace {

// The prompt of episode e (0-based over the run): the split is visited in a seeded shuffle per
// pass, like the Trainer's epochs, but from its own stream.
std::size_t episode_prompt(std::int64_t episode, std::size_t prompts, std::uint64_t seed) {
  const auto n = static_cast<std::int64_t>(prompts);
  const auto order = epoch_permutation(prompts, seed ^ 0x70706fULL, episode / n);
  return order[static_cast<std::size_t>(episode % n)];
}

}  // namespace

void PpoAlgorithm::run(StageContext& ctx) {
  Stage stage = start_stage(ctx, options_.training);
  if (stage.completed) return;
  if (!ctx.reward_model)
    throw Error("stage '" + ctx.stage_name +
                "': ppo needs a reward model: add reward_model = { plugin = \"…\", … } to the "
                "stage (rlhf-host --list-plugins shows the reward_model plugins)");
  const auto max_prompt = options_.training.max_prompt_length;
  auto rows = tokenize_stage<PromptRow>(ctx, stage, [&](const Example& e, auto& out) {
    if (e.prompt.empty()) throw Error(e.source + ": a ppo example needs a \"prompt\"");
    PromptCompletionIds ids = stage.chat_template.encode(*stage.tokenizer, e.prompt, {});
    if (static_cast<std::int64_t>(ids.prompt.size()) > max_prompt)
      throw Error(e.source + ": the prompt is " + std::to_string(ids.prompt.size()) +
                  " tokens, more than max_prompt_length = " + std::to_string(max_prompt) +
                  " (ppo does not cut prompts: shorten it or raise max_prompt_length)");
    out.push_back(PromptRow{std::move(ids.prompt), e});
  });
  ReferencePolicy reference(ctx, stage, options_.reference, 0, 0, 1,
                            [](Split, const std::vector<std::size_t>&) -> Batch {
                              throw Error("ppo: no precomputed reference rows");
                            });
  if (ctx.check_only) return;

  GenerationConfig generation;
  generation.max_new_tokens = options_.response_length;
  generation.do_sample = true;
  generation.temperature = options_.temperature;
  generation.eos_token_ids =
      stop_token_ids(ctx.model_path, *stage.model, *stage.tokenizer, stage.chat_template);
  generation.pad_token_id = stage.tokenizer->pad_id();
  generation.seed = ctx.seed;

  if (stage.training.eval_only) {
    evaluate_prompts(ctx, stage, rows.eval, rows.eval_sources, options_, generation, 0);
    return;
  }
  if (rows.train.empty()) throw Error("stage '" + ctx.stage_name + "': no training prompts");

  const std::int64_t R = options_.rollout_batch_size();
  const auto prompts = static_cast<std::int64_t>(rows.train.size());
  const std::int64_t episodes =
      options_.total_episodes > 0
          ? options_.total_episodes
          : static_cast<std::int64_t>(
                std::ceil(options_.training.num_train_epochs * static_cast<double>(prompts)));
  const std::int64_t rollouts = std::max<std::int64_t>(1, (episodes + R - 1) / R);
  const std::int64_t steps_per_rollout = options_.num_ppo_epochs * options_.num_mini_batches;
  stage.training.max_steps = rollouts * steps_per_rollout;
  const std::int64_t sample_every =
      options_.num_sample_generations > 0
          ? std::max<std::int64_t>(1, rollouts / options_.num_sample_generations)
          : 0;

  const std::int64_t hidden = stage.model->config().hidden_size;
  ValueHead head = ValueHead::zeros(hidden);
  TrainingTask task = stage.task(static_cast<std::size_t>(R), 0);
  task.trainable.emplace_back("value_head.weight", head.weight);
  task.trainable.emplace_back("value_head.bias", head.bias);

  Rollout rollout;
  nlohmann::ordered_json samples = nlohmann::ordered_json::array();
  const std::int64_t chunk = options_.local_rollout_forward_batch_size;
  auto collect = [&](std::int64_t k) {
    torch::NoGradGuard no_grad;
    stage.set_training(false);
    std::vector<const PromptRow*> batch;
    Rollout r;
    for (std::int64_t j = 0; j < R; ++j) {
      r.prompts.push_back(episode_prompt(k * R + j, rows.train.size(), ctx.seed));
      batch.push_back(&rows.train[r.prompts.back()]);
    }
    GenerationConfig g = generation;
    g.seed = ctx.seed * 1000003ULL + static_cast<std::uint64_t>(k) * 7919ULL;
    Completions done = generate_completions(*stage.model, *stage.tokenizer, batch, g, chunk);
    std::vector<Example> examples;
    std::vector<std::vector<std::int64_t>> prompt_ids;
    for (const PromptRow* p : batch) {
      examples.push_back(p->example);
      prompt_ids.push_back(p->ids);
    }
    r.completions = done.texts;
    r.has_eos = done.has_eos;
    r.seq = pad_sequences(prompt_ids, done.ids, generation.pad_token_id);
    r.scores = checked_scores(*ctx.reward_model, ctx.stage_name, examples, done.texts);
    if (options_.missing_eos_penalty)
      for (std::int64_t i = 0; i < R; ++i)
        if (!r.has_eos[static_cast<std::size_t>(i)]) r.scores[i] -= *options_.missing_eos_penalty;
    // Old log-probs and values, then the reference's, chunk by chunk.
    std::vector<at::Tensor> logps, values, ref_logps;
    for (std::int64_t s = 0; s < R; s += chunk) {
      const at::Tensor index = torch::arange(s, std::min(R, s + chunk), torch::kInt64);
      const Sequences part = r.seq.rows(index);
      reference.with_reference([&](CausalLM& model) {
        ref_logps.push_back(policy_tokens(model, nullptr, part, options_.temperature).logps);
      });
      PolicyTokens now = policy_tokens(*stage.model, &head, part, options_.temperature);
      logps.push_back(now.logps);
      values.push_back(now.values);
    }
    r.logps = torch::cat(logps).to(torch::kCPU);
    r.values = torch::cat(values).to(torch::kCPU);
    r.ref_logps = torch::cat(ref_logps).to(torch::kCPU);
    compute_advantages(r, options_);
    r.metrics.emplace_back("episode", static_cast<double>((k + 1) * R));
    r.metrics.emplace_back(
        "rollout/tokens_per_second",
        done.seconds > 0 ? static_cast<double>(done.new_tokens) / done.seconds : 0.0);
    if (ctx.logger)
      ctx.logger->info(
          "[{}] rollout {}/{}: {} completions, {} new tokens in {:.2f} s, mean score "
          "{:.4f}",
          ctx.stage_name, k + 1, rollouts, R, done.new_tokens, done.seconds,
          r.scores.mean().item<double>());
    if (sample_every > 0 && (k % sample_every == 0 || k + 1 == rollouts)) {
      for (std::int64_t i = 0; i < std::min<std::int64_t>(R, 4); ++i) {
        const auto row = static_cast<std::size_t>(i);
        nlohmann::ordered_json line;
        line["step"] = k * steps_per_rollout;
        line["episode"] = k * R + i;
        line["prompt"] = stage.chat_template.render_prompt(batch[row]->example.prompt);
        line["completion"] = r.completions[row];
        line["score"] = r.scores[i].item<double>();
        samples.push_back(line);
      }
      write_file_atomically(ctx.stage_dir / "samples.jsonl", [&](FileWriter& out) {
        for (const auto& l : samples)
          out.write(l.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      });
    }
    rollout = std::move(r);
  };
  // One Trainer epoch is one PPO epoch over the current rollout batch; a new batch every
  // num_ppo_epochs epochs (and on --resume, from the checkpoint's weights).
  task.begin_epoch = [&](std::int64_t epoch) {
    if (epoch % options_.num_ppo_epochs == 0 || !rollout.scores.defined())
      collect(epoch / options_.num_ppo_epochs);
  };
  task.step = [&](const std::vector<std::size_t>& indices, Split) {
    return ppo_step(*stage.model, head, rollout, indices, options_);
  };
  if (ctx.logger)
    ctx.logger->info(
        "[{}] {} prompts, {} episodes: {} rollout batches of {} × {} epochs × {} "
        "mini-batches; reference: {}; {} stop token(s)",
        ctx.stage_name, prompts, episodes, rollouts, R, options_.num_ppo_epochs,
        options_.num_mini_batches, reference.describe(), generation.eos_token_ids.size());
  finish_stage(ctx, stage, task, rows.eval_sources);
  if (!rows.eval.empty() && !ctx.stop_requested())
    evaluate_prompts(ctx, stage, rows.eval, rows.eval_sources, options_, generation,
                     stage.training.max_steps);
}

}  // namespace rlhf::ppo
