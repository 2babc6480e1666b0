// Trainer — the one training loop every algorithm uses.
//
// An algorithm supplies a TrainingTask: the trainable tensors and a `step` function that turns
// a micro-batch (example indices into a split) into a loss and its metrics. The Trainer does
// the rest, the same way for SFT, DPO, ORPO and whatever comes next:
//
//   for each optimizer step s (0-based) until total_steps:
//     take gradient_accumulation_steps micro-batches of per_device_train_batch_size examples
//       from this epoch's seeded shuffle (the last step of an epoch may take fewer);
//     backward(loss / micro-batches of this step);
//     clip to max_grad_norm; lr = learning_rate × schedule(s); AdamW step; zero grads;
//     every logging_steps: log the window's mean loss and metrics, learning_rate, grad_norm,
//       tokens_per_second to ctx.metrics (metrics.jsonl + TensorBoard) and the console;
//     every eval_steps: evaluate the eval split, log eval_<name> metrics;
//     every save_steps (and on Ctrl-C): write checkpoint-<s+1> (see checkpoint.hpp);
//     Ctrl-C (ctx.stop_requested()): finish the step, checkpoint, return false.
//   At the end, evaluate once more (if there is an eval split and the last step did not).
//
// Numbers that are not finite stop the run (docs/reliability.md, family "non-finite training"): a
// NaN/Inf training loss or metric (checked every micro-batch, before backward), gradient norm
// (before the optimizer step), eval metric, or trainable weight (checked before every
// checkpoint and before train() returns true) throws rlhf::Error naming the stage, the step,
// the value, the checkpoint kept and the likely keys. No checkpoint or result is written from
// such weights, and metrics.jsonl never receives the value.
//
// Data parallel (rlhf-host --nproc N, or torchrun's environment; docs/architecture.md, "Data
// parallel"): a step takes gradient_accumulation_steps micro-batches on each of the N ranks, in
// the order one rank would take them (rank r runs the step's micro-batches numbered r mod N);
// gradients are summed over the ranks before clipping, metrics and eval are merged, and rank 0
// alone writes. N ranks train as one rank with N times the accumulation.
//
// With ctx.resume the newest checkpoint in ctx.stage_dir is loaded first and the loop continues
// from its step; on CPU the metrics are then bit-identical to an uninterrupted run (data order
// is a pure function of (seed, epoch); the RNG, optimizer and logging window are restored).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/data_source.hpp"
#include "rlhf/toolkit/optimizer.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

struct StageContext;

using Metrics = std::vector<std::pair<std::string, double>>;

// What one micro-batch produced.
struct StepOutput {
  torch::Tensor loss;       // scalar; differentiable when training
  Metrics metrics;          // the algorithm's metrics (means over the micro-batch), TRL names
  std::int64_t tokens = 0;  // tokens that went through the model (for tokens_per_second)
  // eval_only: per-example values for eval_predictions.jsonl, each a [B] tensor in the order of
  // the step's indices (e.g. {"chosen_logps", …}); the Trainer ignores them while training.
  std::vector<std::pair<std::string, torch::Tensor>> predictions;
};

// Called after each eval micro-batch with its indices and what the step returned.
using EvalObserver =
    std::function<void(const std::vector<std::size_t>& indices, const StepOutput& output)>;

struct TrainingTask {
  NamedTensors trainable;  // what AdamW updates (adapter parameters or the full model)
  std::size_t train_size = 0;
  std::size_t eval_size = 0;
  // Runs one micro-batch of `split`. For Split::train it is called with grad mode on and the
  // Trainer calls backward on the loss; for Split::eval under NoGradGuard.
  std::function<StepOutput(const std::vector<std::size_t>& indices, Split split)> step;
  // Switches dropout etc. (optional).
  std::function<void(bool training)> set_training;
  // Called before the first micro-batch of each epoch, with the epoch's 0-based number (also for
  // the epoch a --resume continues in). Optional. PPO regenerates its rollout batch here: its
  // "dataset" is the current rollout and one epoch is one PPO epoch over it.
  std::function<void(std::int64_t epoch)> begin_epoch;
};

// The order in which epoch `epoch` visits examples 0..n-1: a Fisher–Yates shuffle driven by a
// mt19937_64 seeded from (seed, epoch). Identical on every platform.
std::vector<std::size_t> epoch_permutation(std::size_t n, std::uint64_t seed, std::int64_t epoch);

class Trainer {
 public:
  Trainer(StageContext& ctx, TrainingConfig config);

  // Trains; returns false when stopped early by ctx.stop_requested() (a checkpoint was written).
  bool train(const TrainingTask& task);

  // Mean of each metric (and `loss`) over the eval split, weighted by micro-batch size, with
  // names prefixed "eval_", in one pass that also hands every batch to `observe`. Empty when
  // there is no eval split; nullopt when ctx.stop_requested() interrupted the pass. A value
  // that is not finite throws rlhf::Error naming the stage and the metric (nothing is reported
  // from it). Shows progress like training does.
  std::optional<Metrics> evaluate(const TrainingTask& task, const EvalObserver& observe = {});

  std::int64_t total_steps(const TrainingTask& task) const;
  const TrainingConfig& config() const { return config_; }

 private:
  void log(std::int64_t step, double epoch, const Metrics& values);
  std::optional<Metrics> evaluate_split(const TrainingTask& task, const EvalObserver& observe);
  // Throws the one-line divergence error for (1-based) optimizer step `step`: the stage, the
  // step, `what` was not finite, the checkpoint kept, and the keys that usually cause it.
  [[noreturn]] void diverged(std::int64_t step, const std::string& what) const;
  // diverged() when a value of `values` is NaN/Inf; `what` prefixes the metric's name.
  void check_metrics(std::int64_t step, const Metrics& values, const std::string& what) const;
  // diverged() when a trainable tensor holds NaN/Inf.
  void check_weights(std::int64_t step, const TrainingTask& task) const;

  StageContext& ctx_;
  TrainingConfig config_;
};

}  // namespace rlhf
