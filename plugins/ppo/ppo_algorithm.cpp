#include "ppo_algorithm.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "completions.hpp"
#include "ppo_eval.hpp"
#include "rlhf/config.hpp"
#include "rlhf/data_parallel.hpp"
#include "rlhf/error.hpp"
#include "rlhf/reference_policy.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/generation.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "rollout.hpp"
#include "rollout_shard.hpp"

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

  // On N ranks a rollout batch is N times one rank's, as the Trainer's global batch: N ranks
  // with gradient_accumulation_steps = a train as one rank with N·a.
  const std::int64_t R = options_.rollout_batch_size() * data_parallel::world_size();
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
  const std::vector<std::int64_t> my_chunks = rank_chunks(R, chunk);
  const std::int64_t chunks = (R + chunk - 1) / chunk, ranks = data_parallel::world_size();
  if (chunks < ranks && data_parallel::is_main() && ctx.logger)
    ctx.logger->warn(
        "[{}] a rollout batch of {} rows is {} chunk(s) of local_rollout_forward_batch_size = {}: "
        "{} nothing; set it to at most {} for every rank to generate",
        ctx.stage_name, R, chunks, chunk,
        chunks + 1 == ranks ? fmt::format("rank {} generates", chunks)
                            : fmt::format("ranks {} to {} generate", chunks, ranks - 1),
        R / ranks);
  auto chunk_end = [&](std::int64_t c) { return std::min(R, (c + 1) * chunk); };
  auto collect = [&](std::int64_t k) {
    torch::NoGradGuard no_grad;
    stage.set_training(false);
    std::vector<const PromptRow*> batch;
    Rollout r;
    for (std::int64_t j = 0; j < R; ++j) {
      r.prompts.push_back(episode_prompt(k * R + j, rows.train.size(), ctx.seed));
      batch.push_back(&rows.train[r.prompts.back()]);
    }
    // This rank's chunks of the batch, generated and scored; chunk c samples with seed g.seed + c
    // on whichever rank generates it (generate_completions' rule), so the batch does not depend
    // on the number of ranks.
    GenerationConfig g = generation;
    g.seed = ctx.seed * 1000003ULL + static_cast<std::uint64_t>(k) * 7919ULL;
    ScoredRows mine;
    std::vector<Example> examples;
    std::vector<std::string> texts;
    for (const std::int64_t c : my_chunks) {
      const std::int64_t begin = c * chunk, end = chunk_end(c);
      GenerationConfig gc = g;
      gc.seed = g.seed + static_cast<std::uint64_t>(c);
      Completions done = generate_completions(
          *stage.model, *stage.tokenizer,
          std::vector<const PromptRow*>(batch.begin() + begin, batch.begin() + end), gc, chunk);
      for (std::int64_t j = begin; j < end; ++j) {
        const auto i = static_cast<std::size_t>(j - begin);
        mine.rows.push_back(static_cast<std::size_t>(j));
        mine.ids.push_back(std::move(done.ids[i]));
        mine.has_eos.push_back(done.has_eos[i]);
        examples.push_back(batch[static_cast<std::size_t>(j)]->example);
        texts.push_back(std::move(done.texts[i]));
      }
      mine.new_tokens += done.new_tokens;
      mine.seconds += done.seconds;
    }
    if (!texts.empty()) {
      at::Tensor s = checked_scores(*ctx.reward_model, ctx.stage_name, examples, texts);
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const auto row = static_cast<std::int64_t>(i);
        if (options_.missing_eos_penalty && !mine.has_eos[i])
          s[row] -= *options_.missing_eos_penalty;  // in float32, as the score is kept
        mine.scores.push_back(s[row].item<double>());
      }
    }
    // Every rank holds the whole batch: whitening, the mini-batch shuffle and the metrics are
    // over all of it, as on one rank.
    const ScoredRows all = gather_rows(mine, static_cast<std::size_t>(R),
                                       "gathering rollout " + std::to_string(k + 1));
    std::vector<std::vector<std::int64_t>> prompt_ids;
    for (const PromptRow* p : batch) prompt_ids.push_back(p->ids);
    r.has_eos = all.has_eos;
    r.seq = pad_sequences(prompt_ids, all.ids, generation.pad_token_id);
    r.scores = torch::tensor(all.scores, torch::kFloat64).to(torch::kFloat32);
    for (const auto& ids : all.ids)
      r.completions.push_back(completion_text(*stage.tokenizer, ids, generation.eos_token_ids));
    // Old log-probs and values, then the reference's, of this rank's chunks, into zero-filled
    // [R, N] tables summed over the ranks: every rank then holds every row, bit for bit.
    const std::int64_t N = r.seq.labels.size(1);
    r.logps = torch::zeros({R, N}, torch::kFloat32);
    r.values = torch::zeros({R, N}, torch::kFloat32);
    r.ref_logps = torch::zeros({R, N}, torch::kFloat32);
    for (const std::int64_t c : my_chunks) {
      const std::int64_t begin = c * chunk, end = chunk_end(c);
      const Sequences part = r.seq.rows(torch::arange(begin, end, torch::kInt64));
      reference.with_reference([&](CausalLM& model) {
        r.ref_logps.narrow(0, begin, end - begin)
            .copy_(policy_tokens(model, nullptr, part, options_.temperature).logps);
      });
      PolicyTokens now = policy_tokens(*stage.model, &head, part, options_.temperature);
      r.logps.narrow(0, begin, end - begin).copy_(now.logps);
      r.values.narrow(0, begin, end - begin).copy_(now.values);
    }
    data_parallel::all_reduce_sum({r.logps, r.values, r.ref_logps},
                                  "gathering the log-probs of rollout " + std::to_string(k + 1));
    compute_advantages(r, options_);
    r.metrics.emplace_back("episode", static_cast<double>((k + 1) * R));
    r.metrics.emplace_back(
        "rollout/tokens_per_second",
        all.seconds > 0 ? static_cast<double>(all.new_tokens) / all.seconds : 0.0);
    if (ctx.logger)
      ctx.logger->info(
          "[{}] rollout {}/{}: {} completions, {} new tokens in {:.2f} s, mean score "
          "{:.4f}",
          ctx.stage_name, k + 1, rollouts, R, all.new_tokens, all.seconds,
          r.scores.mean().item<double>());
    if (sample_every > 0 && (k % sample_every == 0 || k + 1 == rollouts) &&
        data_parallel::is_main()) {
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
