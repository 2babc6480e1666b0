// The stage every training algorithm runs, as three calls: start_stage() gets the policy ready
// (or says the stage already completed on --resume), tokenize_stage() turns the stage's data
// into rows, finish_stage() trains and saves the result — or, with `eval_only`, evaluates in one
// pass and writes eval_predictions.jsonl. An algorithm supplies only its rows and its step:
//
//   void MyLoss::run(StageContext& ctx) {
//     Stage stage = start_stage(ctx, training_);
//     if (stage.completed) return;                     // --resume: the result is loaded
//     auto rows = tokenize_stage<PromptCompletionIds>(ctx, stage,
//         [&](const Example& e, auto& out) { out.push_back(tokenize_completion(e, …)); });
//     TrainingTask task = stage.task(rows);
//     task.step = [&](const std::vector<std::size_t>& indices, Split split) -> StepOutput {…};
//     finish_stage(ctx, stage, task);
//   }
//   void MyLoss::check(StageContext& ctx) override { run(ctx); }   // see below
//
// `rlhf-host --check` sets ctx.check_only: start_stage() then checks the policy setup and loads
// only the model's structure, tokenize_stage() tokenises every example as the run would, and
// finish_stage() returns without a forward pass. So an algorithm written on these helpers
// implements check() by calling run(), and --check cannot drift from the run.
//
// Pair-preference losses need even less: pair_preference.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/data_source.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/parallel_for.hpp"
#include "rlhf/trainer.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

class Adapter;
class CausalLM;
class Tokenizer;

// The policy side of a stage, as start_stage() prepared it.
struct Stage {
  std::shared_ptr<CausalLM> model;
  std::shared_ptr<Tokenizer> tokenizer;
  ChatTemplate chat_template = ChatTemplate::get("none");
  TrainingConfig training;
  Adapter* adapter = nullptr;  // ctx.adapter
  bool completed = false;      // --resume and the stage had finished: its result is loaded
  bool check_only = false;     // ctx.check_only: the model has no weights, nothing may run

  // Dropout on/off for the model and the adapter (off while training too with disable_dropout,
  // TRL's default). is_training() says what was last set.
  void set_training(bool on);
  bool is_training() const { return training_on_; }

  // A TrainingTask with the trainable tensors (the adapter's, else every parameter that requires
  // grad), set_training wired and the split sizes of `rows`; the caller sets `step`.
  template <class Rows>
  TrainingTask task(const Rows& rows) {
    return task(rows.train.size(), rows.eval.size());
  }
  TrainingTask task(std::size_t train_size, std::size_t eval_size);

 private:
  bool training_on_ = false;
};

// Gets the stage's policy ready: checks the policy setup (check_policy_setup), loads the model
// (ctx.model()), folds and re-attaches the adapter with `merge_adapter_before`, turns on
// gradient checkpointing, loads the tokenizer and chat template. With --resume and a completed
// stage (stage_complete.json), loads the saved result into the policy and sets `completed`.
Stage start_stage(StageContext& ctx, const TrainingConfig& training);

// The rows a stage trains and evaluates on. `eval` comes from the eval split, or — eval_only
// without an eval split — from the train split (`eval_split` says which); `eval_sources[i]` is
// the "file:line" of eval row i, for eval_predictions.jsonl.
template <class Row>
struct StageRows {
  std::vector<Row> train, eval;
  std::vector<std::string> eval_sources;
  Split eval_split = Split::eval;
  // The rows a step of `split` indexes: Trainer steps use Split::train for training and
  // Split::eval for every evaluation.
  const std::vector<Row>& of(Split split) const { return split == Split::train ? train : eval; }
};

// Tokenises ctx.data for the stage: `tokenize(example, out)` appends the example's rows (one, or
// several: KTO splits a pair into two) and throws rlhf::Error naming example.source when the
// example does not fit the algorithm; it runs on several threads at once, so it may only write
// to `out`. eval_only stages tokenise only what they evaluate.
template <class Row, class Tokenize>
StageRows<Row> tokenize_stage(StageContext& ctx, const Stage& stage, Tokenize&& tokenize) {
  if (!ctx.data) throw Error("stage '" + ctx.stage_name + "': no data source");
  StageRows<Row> rows;
  const bool eval_on_train = stage.training.eval_only && ctx.data->size(Split::eval) == 0;
  rows.eval_split = eval_on_train ? Split::train : Split::eval;
  // Examples are fetched on this thread a block at a time (DataSource::at() need not be
  // thread-safe) and tokenised on every core (parallel_for.hpp); rows keep the split's order and
  // the error thrown is the first example's, as with a plain loop.
  auto read = [&](Split split, std::vector<Row>& out, std::vector<std::string>* sources) {
    constexpr std::size_t kBlock = 4096;
    const std::size_t n = ctx.data->size(split);
    std::vector<Example> block;
    std::vector<std::vector<Row>> rows_of;
    for (std::size_t start = 0; start < n; start += kBlock) {
      const std::size_t count = std::min(kBlock, n - start);
      block.clear();
      for (std::size_t i = 0; i < count; ++i) block.push_back(ctx.data->at(start + i, split));
      rows_of.assign(count, {});
      parallel_for(count, [&](std::size_t i) { tokenize(block[i], rows_of[i]); });
      for (std::size_t i = 0; i < count; ++i) {
        for (auto& row : rows_of[i]) out.push_back(std::move(row));
        if (sources) sources->resize(out.size(), block[i].source);
      }
    }
  };
  if (!stage.training.eval_only) read(Split::train, rows.train, nullptr);
  read(rows.eval_split, rows.eval, &rows.eval_sources);
  return rows;
}

// Trains `task` and saves the result (adapter/ or model/ + stage_complete.json), or with
// eval_only evaluates the eval rows in ONE pass: the eval metrics (eval_loss, eval_<metric>)
// and, from each step's `predictions`, eval_predictions.jsonl (`index`, `source` =
// eval_sources[index], then the prediction fields). Ctrl-C stops at the next batch or step
// (a training stage checkpoints; nothing else is written). Does nothing with ctx.check_only.
template <class Row>
void finish_stage(StageContext& ctx, Stage& stage, const TrainingTask& task,
                  const StageRows<Row>& rows) {
  finish_stage(ctx, stage, task, rows.eval_sources);
}
void finish_stage(StageContext& ctx, Stage& stage, const TrainingTask& task,
                  const std::vector<std::string>& eval_sources);

}  // namespace rlhf
