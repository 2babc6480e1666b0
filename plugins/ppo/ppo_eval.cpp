#include "ppo_eval.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "completions.hpp"
#include "rlhf/batch_pass.hpp"
#include "rlhf/data_parallel.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rollout_shard.hpp"

namespace rlhf::ppo {

namespace {

// The prompt as the data gave it: a string, or the list of messages.
nlohmann::ordered_json prompt_json(const Example& e) {
  if (!e.conversational && e.prompt.size() == 1) return e.prompt[0].content;
  auto list = nlohmann::ordered_json::array();
  for (const auto& m : e.prompt) list.push_back({{"role", m.role}, {"content", m.content}});
  return list;
}

}  // namespace

bool evaluate_prompts(StageContext& ctx, Stage& stage, const std::vector<PromptRow>& rows,
                      const std::vector<std::string>& sources, const PpoOptions& options,
                      const GenerationConfig& generation, std::int64_t step) {
  const bool was_training = stage.is_training();
  stage.set_training(false);
  GenerationConfig config = generation;
  config.do_sample = options.eval_temperature > 0;
  config.temperature = config.do_sample ? options.eval_temperature : 1.0;
  // On N ranks rank r generates and scores batches r, r + N, …: each batch samples with its own
  // seed (below), so the completions do not depend on the number of ranks.
  ScoredRows mine;
  std::size_t batch_number = 0;
  const auto batch = static_cast<std::size_t>(stage.training.per_device_eval_batch_size);
  bool complete =
      for_each_batch(ctx, "evaluating", rows.size(), batch, [&](const std::vector<std::size_t>& i) {
        if (static_cast<int>(batch_number++ %
                             static_cast<std::size_t>(data_parallel::world_size())) !=
            data_parallel::rank())
          return;
        std::vector<const PromptRow*> chunk;
        std::vector<Example> examples;
        for (std::size_t k : i) {
          chunk.push_back(&rows[k]);
          examples.push_back(rows[k].example);
        }
        // Every batch its own stream, fixed by the seed: the same prompts sample the same way in
        // an eval stage before and after training.
        GenerationConfig c = config;
        c.seed = config.seed + i.front();
        Completions done = generate_completions(*stage.model, *stage.tokenizer, chunk, c,
                                                static_cast<std::int64_t>(chunk.size()));
        const at::Tensor s =
            checked_scores(*ctx.reward_model, ctx.stage_name, examples, done.texts);
        for (std::size_t k = 0; k < i.size(); ++k) {
          mine.rows.push_back(i[k]);
          mine.ids.push_back(std::move(done.ids[k]));
          mine.has_eos.push_back(done.has_eos[k]);
          mine.scores.push_back(s[static_cast<std::int64_t>(k)].item<double>());
        }
      });
  stage.set_training(was_training);
  complete = !data_parallel::any(!complete, "agreeing on a stopped evaluation");
  if (!complete) return false;
  const ScoredRows all = gather_rows(mine, rows.size(), "gathering the evaluation completions");
  std::vector<std::string> lines(rows.size());
  const std::vector<double>& scores = all.scores;
  std::vector<std::int64_t> lengths(rows.size());
  std::int64_t eos = 0;
  for (std::size_t row = 0; row < rows.size(); ++row) {
    lengths[row] = static_cast<std::int64_t>(all.ids[row].size());
    eos += all.has_eos[row] ? 1 : 0;
    nlohmann::ordered_json line;
    line["index"] = row;
    line["source"] = row < sources.size() ? sources[row] : std::string();
    line["prompt"] = prompt_json(rows[row].example);
    line["completion"] = completion_text(*stage.tokenizer, all.ids[row], config.eos_token_ids);
    line["score"] = scores[row];
    line["completion_tokens"] = lengths[row];
    lines[row] = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  double mean = 0, tokens = 0;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    mean += scores[k];
    tokens += static_cast<double>(lengths[k]);
  }
  const double n = static_cast<double>(std::max<std::size_t>(rows.size(), 1));
  mean /= n;
  double var = 0;
  for (double s : scores) var += (s - mean) * (s - mean);
  const double std = rows.size() > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  if (data_parallel::is_main())
    write_file_atomically(ctx.stage_dir / "eval_completions.jsonl", [&](FileWriter& out) {
      for (const auto& l : lines) out.write(l + "\n");
    });
  const Metrics values = {{"eval_objective/scores", mean},
                          {"eval_objective/scores_std", std},
                          {"eval_completion_tokens", tokens / n},
                          {"eval_num_eos_tokens", static_cast<double>(eos) / n}};
  if (ctx.metrics) ctx.metrics->log(ctx.stage_name, step, 0.0, values);
  if (ctx.logger)
    ctx.logger->info(
        "[{}] eval on {} prompts ({}): mean score {:.4f} (std {:.4f}), {:.1f} "
        "completion tokens, {:.0f}% ended with a stop token → {}",
        ctx.stage_name, rows.size(),
        config.do_sample ? fmt::format("temperature {}", config.temperature)
                         : std::string("greedy"),
        mean, std, tokens / n, 100.0 * static_cast<double>(eos) / n,
        (ctx.stage_dir / "eval_completions.jsonl").string());
  return true;
}

}  // namespace rlhf::ppo
