#include "rlhf/trainer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <random>

#include "rlhf/adapter.hpp"
#include "rlhf/batch_pass.hpp"
#include "rlhf/checkpoint.hpp"
#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/finite.hpp"
#include "rlhf/gradient_reducer.hpp"
#include "rlhf/lr_schedule.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/progress.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/master_weights.hpp"
#include "torch_names.hpp"

namespace rlhf {

namespace {

// Running sums of the metrics logged every `logging_steps`: each micro-batch counts once (an
// eval batch by its size). A metric is averaged over the micro-batches that reported it: KTO
// reports rewards/chosen only for batches with a desirable row (TRL divides per-kind sums by
// per-kind counts the same way). Kept in the checkpoint so a resumed run logs exactly what an
// uninterrupted one would.
struct LogWindow {
  Metrics sums;                 // in first-seen order; "loss" first
  std::vector<double> weights;  // per entry of `sums`: the micro-batches (or rows) it came from
  std::int64_t micro_batches = 0;
  double grad_norm_sum = 0;
  std::int64_t steps = 0;
  std::int64_t tokens = 0;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();

  void add(const std::string& name, double value, double weight = 1.0) {
    for (std::size_t i = 0; i < sums.size(); ++i)
      if (sums[i].first == name) {
        sums[i].second += value * weight;
        weights[i] += weight;
        return;
      }
    sums.emplace_back(name, value * weight);
    weights.push_back(weight);
  }

  // The window's mean of every metric.
  Metrics means() const {
    Metrics out;
    for (std::size_t i = 0; i < sums.size(); ++i)
      out.emplace_back(sums[i].first, sums[i].second / weights[i]);
    return out;
  }

  nlohmann::json to_json() const {
    nlohmann::json j;
    j["names"] = nlohmann::json::array();
    j["sums"] = nlohmann::json::array();
    for (const auto& [n, v] : sums) {
      j["names"].push_back(n);
      j["sums"].push_back(v);
    }
    j["weights"] = weights;
    j["micro_batches"] = micro_batches;
    j["grad_norm_sum"] = grad_norm_sum;
    j["steps"] = steps;
    return j;
  }

  static LogWindow from_json(const nlohmann::json& j) {
    LogWindow w;
    if (j.is_null() || j.empty()) return w;
    w.micro_batches = j.at("micro_batches").get<std::int64_t>();
    for (std::size_t i = 0; i < j.at("names").size(); ++i) {
      w.sums.emplace_back(j["names"][i].get<std::string>(), j["sums"][i].get<double>());
      // Checkpoints before per-metric weights: every metric came from every micro-batch.
      w.weights.push_back(j.contains("weights") ? j["weights"][i].get<double>()
                                                : static_cast<double>(w.micro_batches));
    }
    w.grad_norm_sum = j.at("grad_norm_sum").get<double>();
    w.steps = j.at("steps").get<std::int64_t>();
    return w;
  }

  // Data parallel: the window of the whole run, from every rank's (a collective). Sums, weights
  // and micro-batches add up; grad_norm_sum, steps and tokens are rank 0's, the same on every
  // rank (the norm is taken after the all-reduce, the tokens are summed every step); the clock
  // is this rank's.
  LogWindow merged(Distributed& dist, const std::string& what) const {
    if (!dist.active()) return *this;
    nlohmann::json mine = to_json();
    mine["tokens"] = tokens;
    LogWindow out;
    out.began = began;
    const auto all = dist.all_gather(mine.dump(), what);
    for (std::size_t r = 0; r < all.size(); ++r) {
      const auto j = nlohmann::json::parse(all[r]);
      const LogWindow w = from_json(j);
      for (std::size_t i = 0; i < w.sums.size(); ++i)
        out.add_sum(w.sums[i].first, w.sums[i].second, w.weights[i]);
      out.micro_batches += w.micro_batches;
      if (r == 0) {
        out.grad_norm_sum = w.grad_norm_sum;
        out.steps = w.steps;
        out.tokens = j.at("tokens").get<std::int64_t>();
      }
    }
    return out;
  }

 private:
  void add_sum(const std::string& name, double sum, double weight) {
    for (std::size_t i = 0; i < sums.size(); ++i)
      if (sums[i].first == name) {
        sums[i].second += sum;
        weights[i] += weight;
        return;
      }
    sums.emplace_back(name, sum);
    weights.push_back(weight);
  }
};

// The first metric whose value is NaN or ±Inf, or nullptr.
const std::pair<std::string, double>* first_non_finite(const Metrics& values) {
  for (const auto& m : values)
    if (!std::isfinite(m.second)) return &m;
  return nullptr;
}

// "1e+10", "inf", "nan" (never "-nan": the sign of a NaN means nothing to a user).
std::string number(double value) { return std::isnan(value) ? "nan" : fmt::format("{:g}", value); }

// The keys that make a run diverge, with the values this stage ran with: what to change.
std::string likely_keys(const TrainingConfig& c, torch::ScalarType dtype) {
  std::string out = "learning_rate = " + number(c.learning_rate);
  if (c.warmup_steps > 0)
    out += ", warmup_steps = " + std::to_string(c.warmup_steps);
  else
    out += ", warmup_ratio = " + number(c.warmup_ratio);
  out += ", max_grad_norm = " + number(c.max_grad_norm) +
         (c.max_grad_norm > 0 ? "" : " (no clipping)") +
         ", adam_epsilon = " + number(c.adam_epsilon);
  if (dtype != torch::kFloat32) out += ", model.dtype = " + dtype_name(dtype) + " (try float32)";
  return out;
}

std::string format_metrics(const Metrics& values) {
  std::string out;
  for (const auto& [name, value] : values) out += " | " + name + " " + fmt::format("{:.4g}", value);
  return out;
}

}  // namespace

std::vector<std::size_t> epoch_permutation(std::size_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch) + 1);
  for (std::size_t i = n; i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

Trainer::Trainer(StageContext& ctx, TrainingConfig config) : ctx_(ctx), config_(std::move(config)) {
  // Data parallel (docs/architecture.md, "Data parallel"): an optimizer step takes
  // gradient_accumulation_steps micro-batches on every rank, so the loop counts global
  // micro-batches, world size times as many per step; rank r runs those whose number within the
  // step is r modulo the world size. One rank's order of examples is unchanged.
  config_.gradient_accumulation_steps *= Distributed::get().world_size();
}

std::int64_t Trainer::total_steps(const TrainingTask& task) const {
  return config_.total_steps(static_cast<std::int64_t>(task.train_size));
}

void Trainer::log(std::int64_t step, double epoch, const Metrics& values) {
  if (ctx_.metrics) ctx_.metrics->log(ctx_.stage_name, step, epoch, values);
}

void Trainer::diverged(std::int64_t step, const std::string& what) const {
  // Nothing was saved from the bad weights: the caller's result is never written, and the
  // newest checkpoint (if any) predates them.
  std::string kept = "no checkpoint was written";
  if (auto dir = latest_checkpoint(ctx_.stage_dir))
    kept = "the newest checkpoint, " + dir->string() + ", is kept";
  throw Error("stage '" + ctx_.stage_name + "', step " + std::to_string(step) + ": " + what +
              ": training diverged and was stopped, no result saved (" + kept +
              "); likely keys: " + likely_keys(config_, ctx_.dtype));
}

void Trainer::check_metrics(std::int64_t step, const Metrics& values,
                            const std::string& what) const {
  if (const auto* bad = first_non_finite(values))
    diverged(step, what + " " + bad->first + " is " + number(bad->second));
}

void Trainer::check_weights(std::int64_t step, const TrainingTask& task) const {
  for (const auto& [name, tensor] : task.trainable)
    if (!all_finite(tensor))
      diverged(step, "parameter '" + name + "' holds " + std::to_string(count_non_finite(tensor)) +
                         " NaN or Inf values after the update");
}

std::optional<Metrics> Trainer::evaluate(const TrainingTask& task, const EvalObserver& observe) {
  std::optional<Metrics> out = evaluate_split(task, observe);
  if (!out) return out;
  // eval_only: the weights were checked at load, so a non-finite value comes from the forward
  // pass itself (e.g. bfloat16 overflow); no metric is reported from it.
  if (const auto* bad = first_non_finite(*out))
    throw Error("stage '" + ctx_.stage_name + "': evaluation: " + bad->first + " is " +
                number(bad->second) + ": the model's outputs are not finite, nothing reported" +
                (ctx_.dtype != torch::kFloat32
                     ? " (model.dtype = " + dtype_name(ctx_.dtype) + ": try float32)"
                     : std::string()));
  return out;
}

std::optional<Metrics> Trainer::evaluate_split(const TrainingTask& task,
                                               const EvalObserver& observe) {
  Metrics out;
  if (task.eval_size == 0) return out;
  if (task.set_training) task.set_training(false);
  torch::NoGradGuard no_grad;
  LogWindow sums;
  // Data parallel: rank r evaluates batches r, r + world size, …, and the sums are merged. With
  // an observer (per-example predictions, eval_only) every rank runs every batch, so rank 0,
  // which writes them, sees them all.
  Distributed& dist = Distributed::get();
  const bool sharded = dist.active() && !observe;
  std::size_t batch_number = 0;
  auto one_batch = [&](const std::vector<std::size_t>& indices) {
    if (sharded && static_cast<int>(batch_number++ % static_cast<std::size_t>(dist.world_size())) !=
                       dist.rank())
      return;
    StepOutput r = task.step(indices, Split::eval);
    const double weight = static_cast<double>(indices.size());
    sums.add("loss", r.loss.item<double>(), weight);
    for (const auto& [name, value] : r.metrics) sums.add(name, value, weight);
    if (observe) observe(indices, r);
  };
  bool complete =
      for_each_batch(ctx_, "evaluating", task.eval_size,
                     static_cast<std::size_t>(config_.per_device_eval_batch_size), one_batch);
  if (task.set_training) task.set_training(true);
  if (dist.active()) complete = !dist.any(!complete, "agreeing on a stopped evaluation");
  if (!complete) return std::nullopt;
  if (sharded) sums = sums.merged(dist, "merging the evaluation metrics");
  for (const auto& [name, mean] : sums.means()) out.emplace_back("eval_" + name, mean);
  return out;
}

bool Trainer::train(const TrainingTask& task) {
  if (task.train_size == 0)
    throw Error("stage '" + ctx_.stage_name + "': the training split is empty");
  if (task.trainable.empty())
    throw Error("stage '" + ctx_.stage_name + "': nothing to train (no trainable parameters)");

  const std::int64_t total = total_steps(task);
  if (total <= 0)
    throw Error("stage '" + ctx_.stage_name + "': " + std::to_string(total) +
                " optimizer steps (max_steps, num_train_epochs): nothing to train");
  const std::int64_t micro_per_epoch =
      config_.micro_batches_per_epoch(static_cast<std::int64_t>(task.train_size));
  const std::int64_t accumulation = config_.gradient_accumulation_steps;
  const std::size_t batch = static_cast<std::size_t>(config_.per_device_train_batch_size);
  LrSchedule schedule(config_.lr_scheduler_type, config_.learning_rate,
                      config_.num_warmup_steps(total), total);
  // A bfloat16/float16 model trains through float32 masters; float32 tensors are their own.
  MasterWeights masters(task.trainable);
  auto optimizer = make_adamw(masters.params(), config_);
  Distributed& dist = Distributed::get();
  const std::int64_t world = dist.world_size();
  GradientReducer reducer(task.trainable, dist);  // data parallel only

  TrainerState state;
  LogWindow window;
  if (ctx_.resume) {
    if (auto dir = latest_checkpoint(ctx_.stage_dir)) {
      state = load_checkpoint(*dir, masters.params(), *optimizer);
      masters.write_back();
      window = LogWindow::from_json(state.extra.value("log_window", nlohmann::json()));
      // The checkpoint's window is every rank's merged: rank 0 carries it on alone.
      if (!dist.is_main()) window = LogWindow();
      // A checkpoint resumes on any number of ranks; the examples per step change with it.
      const std::int64_t was = state.extra.value("world_size", std::int64_t{1});
      if (was != world && dist.is_main() && ctx_.logger)
        ctx_.logger->warn(
            "[{}] {} was written by {} rank(s) and resumes on {}: a step now takes {} examples "
            "instead of {}",
            ctx_.stage_name, dir->string(), was, world,
            accumulation * static_cast<std::int64_t>(batch),
            accumulation / world * was * static_cast<std::int64_t>(batch));
      if (ctx_.logger)
        ctx_.logger->info("[{}] resumed from {} (step {}/{})", ctx_.stage_name, dir->string(),
                          state.global_step, total);
    } else if (ctx_.logger) {
      ctx_.logger->info("[{}] --resume: no checkpoint in {}, starting fresh", ctx_.stage_name,
                        ctx_.stage_dir.string());
    }
  }
  if (state.global_step == 0 && state.micro_batch == 0 && state.epoch == 0)
    torch::manual_seed(ctx_.seed);  // dropout draws are part of the seeded run
  if (dist.active()) {
    // Every rank starts from rank 0's weights (they are equal when every rank seeded and loaded
    // the same way; this makes it so when they are not).
    std::vector<torch::Tensor> weights;
    for (const auto& [name, tensor] : masters.params()) weights.push_back(tensor.detach());
    dist.broadcast(weights, "sending rank 0's trainable weights");
    masters.write_back();
  }

  auto save = [&](std::int64_t step) {
    check_weights(step, task);  // a checkpoint never holds weights a run cannot continue from
    // Data parallel: the weights and optimizer state are the same on every rank (the gradients
    // were all-reduced), so rank 0 alone writes them, with the window of every rank.
    state.extra["log_window"] =
        window.merged(dist, "merging the metrics for checkpoint-" + std::to_string(step)).to_json();
    if (dist.active())
      state.extra["world_size"] = world;
    else
      state.extra.erase("world_size");  // resumed on one rank from a data-parallel checkpoint
    if (!dist.is_main()) return;
    save_checkpoint(ctx_.stage_dir / ("checkpoint-" + std::to_string(step)), masters.params(),
                    *optimizer, state, [&](const std::filesystem::path& tmp) {
                      if (ctx_.adapter) ctx_.adapter->save(tmp / "adapter");
                    });
    prune_checkpoints(ctx_.stage_dir, config_.save_total_limit);
  };

  Progress progress(ctx_.stage_name, total, state.global_step);
  if (ctx_.logger)
    ctx_.logger->info(
        "[{}] training: {} examples, {} optimizer steps, {} x {} micro-batches per step{}",
        ctx_.stage_name, task.train_size, total, accumulation, batch,
        world > 1 ? fmt::format(" ({} per rank on {} ranks)", accumulation / world, world)
                  : std::string());
  if (task.set_training) task.set_training(true);
  std::vector<std::size_t> order = epoch_permutation(task.train_size, ctx_.seed, state.epoch);
  bool evaluated_last = false;
  std::int64_t begun_epoch = -1;  // the epoch task.begin_epoch was last called for

  while (state.global_step < total) {
    if (state.micro_batch >= micro_per_epoch) {
      ++state.epoch;
      state.micro_batch = 0;
      order = epoch_permutation(task.train_size, ctx_.seed, state.epoch);
    }
    if (task.begin_epoch && begun_epoch != state.epoch) {
      task.begin_epoch(state.epoch);
      begun_epoch = state.epoch;
      if (task.set_training) task.set_training(true);  // the hook may have evaluated or generated
    }
    const std::int64_t n_micro = std::min(accumulation, micro_per_epoch - state.micro_batch);
    double step_loss = 0;
    std::int64_t step_tokens = 0;
    // One rank takes every micro-batch; rank r of `world` those numbered r modulo world.
    for (std::int64_t k = dist.rank(); k < n_micro; k += world) {
      std::size_t begin = static_cast<std::size_t>(state.micro_batch + k) * batch;
      std::vector<std::size_t> indices(
          order.begin() + static_cast<std::ptrdiff_t>(begin),
          order.begin() + static_cast<std::ptrdiff_t>(std::min(task.train_size, begin + batch)));
      StepOutput r;
      try {
        r = task.step(indices, Split::train);
      } catch (const c10::Error& e) {
        // LibTorch's own message (out of memory, a shape fault) with the stage and step it hit.
        throw Error("stage '" + ctx_.stage_name + "', step " +
                    std::to_string(state.global_step + 1) + ": " + torch_error_line(e));
      }
      const double loss = r.loss.item<double>();
      // Checked every micro-batch, before backward: the weights still hold the last good step.
      if (!std::isfinite(loss))
        diverged(state.global_step + 1, "the training loss is " + number(loss));
      check_metrics(state.global_step + 1, r.metrics, "the training");
      // This rank's last micro-batch of the step: its backward completes the gradients, and
      // their all-reduce starts bucket by bucket as it goes.
      if (k + world >= n_micro) reducer.arm();
      (r.loss / static_cast<double>(n_micro)).backward();
      step_loss += loss / static_cast<double>(n_micro);
      step_tokens += r.tokens;
      window.add("loss", loss);
      for (const auto& [name, value] : r.metrics) window.add(name, value);
      ++window.micro_batches;
    }
    state.micro_batch += n_micro;
    // Each rank's gradient is its micro-batches' share of the step's mean (the losses were
    // divided by the step's micro-batch count over all ranks): their sum is one rank's gradient.
    if (dist.active()) {
      const auto began = std::chrono::steady_clock::now();
      const std::size_t overlapped = reducer.finish(state.global_step + 1);
      if (ctx_.logger && ctx_.logger->should_log(spdlog::level::debug))
        ctx_.logger->debug(
            "[{}] step {}: gradient all-reduce: {} of {} buckets started during backward, "
            "{:.2f} ms after it",
            ctx_.stage_name, state.global_step + 1, overlapped, reducer.bucket_count(),
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
                .count());
      // The progress line shows the step's tokens and loss over all ranks (float64 holds the
      // token count exactly).
      torch::Tensor step_totals =
          torch::tensor({static_cast<double>(step_tokens), step_loss}, torch::kFloat64);
      dist.all_reduce_sum({step_totals},
                          "summing the tokens of step " + std::to_string(state.global_step + 1));
      step_tokens = static_cast<std::int64_t>(step_totals[0].item<double>());
      step_loss = step_totals[1].item<double>();
    }

    masters.take_gradients();
    double grad_norm = clip_grad_norm(masters.params(), config_.max_grad_norm);
    if (!std::isfinite(grad_norm))
      diverged(state.global_step + 1, "the gradient norm is " + number(grad_norm));
    double lr = schedule.lr(state.global_step);
    set_learning_rate(*optimizer, lr);
    try {
      optimizer->step();
    } catch (const c10::Error& e) {
      diverged(state.global_step + 1, "the optimizer update failed (" + torch_error_line(e) + ")");
    } catch (const std::exception& e) {
      // LibTorch reports a step size too large for the weights' dtype (learning_rate 1e39) as
      // std::runtime_error "value cannot be converted to type float without overflow".
      diverged(state.global_step + 1,
               std::string("the optimizer update failed (") + e.what() + ")");
    }
    masters.write_back();
    optimizer->zero_grad();
    ++state.global_step;
    window.grad_norm_sum += grad_norm;
    ++window.steps;
    window.tokens += step_tokens;
    progress.step(step_tokens, step_loss);
    evaluated_last = false;

    const double epoch =
        static_cast<double>(state.epoch) +
        static_cast<double>(state.micro_batch) / static_cast<double>(micro_per_epoch);
    if (state.global_step % config_.logging_steps == 0 || state.global_step == total) {
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - window.began).count();
      const LogWindow all =
          window.merged(dist, "merging the metrics of step " + std::to_string(state.global_step));
      Metrics values = all.means();
      values.emplace_back("grad_norm", all.grad_norm_sum / static_cast<double>(all.steps));
      values.emplace_back("learning_rate", lr);
      // Only the wall clock differs between runs; a resumed window restarts its clock.
      values.emplace_back("tokens_per_second",
                          seconds > 0 ? static_cast<double>(all.tokens) / seconds : 0.0);
      log(state.global_step, epoch, values);
      progress.clear();
      if (ctx_.logger)
        ctx_.logger->info("[{}] {}{}", ctx_.stage_name, progress.status(), format_metrics(values));
      window = LogWindow();
    }
    if (config_.eval_steps > 0 && state.global_step % config_.eval_steps == 0 &&
        task.eval_size > 0) {
      progress.clear();
      if (auto eval = evaluate_split(task, {})) {  // nullopt: Ctrl-C, checkpointed below
        check_metrics(state.global_step, *eval, "the");
        log(state.global_step, epoch, *eval);
        if (ctx_.logger)
          ctx_.logger->info("[{}] eval at step {}{}", ctx_.stage_name, state.global_step,
                            format_metrics(*eval));
        evaluated_last = true;
      }
    }
    // Data parallel: a stop on any rank stops every rank at the same step.
    const bool stop = dist.active()
                          ? dist.any(ctx_.stop_requested(), "agreeing on a stop after step " +
                                                                std::to_string(state.global_step))
                          : ctx_.stop_requested();
    if ((config_.save_steps > 0 && state.global_step % config_.save_steps == 0) ||
        (stop && state.global_step < total))
      save(state.global_step);
    if (stop && state.global_step < total) {
      progress.clear();
      if (ctx_.logger)
        ctx_.logger->warn("[{}] stopped at step {}/{}; checkpoint written, continue with --resume",
                          ctx_.stage_name, state.global_step, total);
      return false;
    }
  }
  progress.clear();
  // The caller saves these weights as the stage's result next.
  check_weights(state.global_step, task);
  if (task.eval_size > 0 && !evaluated_last) {
    // A Ctrl-C here skips the final eval only: the trained weights are complete and saved.
    if (auto eval = evaluate_split(task, {})) {
      check_metrics(state.global_step, *eval, "the");
      log(state.global_step,
          static_cast<double>(state.epoch) +
              static_cast<double>(state.micro_batch) / static_cast<double>(micro_per_epoch),
          *eval);
      if (ctx_.logger)
        ctx_.logger->info("[{}] final eval{}", ctx_.stage_name, format_metrics(*eval));
    }
  }
  return true;
}

}  // namespace rlhf
