// TensorBoardRuns — the TensorBoard side of a MetricsSink: one run per stage, laid out and
// tagged the way transformers' Trainer (and so TRL) writes them, so `tensorboard --logdir
// <output_dir>` lines our curves up with a TRL run's:
//
//   <run_dir>/<stage>/runs/<Mon><DD>_<HH>-<MM>-<SS>_<hostname>/events.out.tfevents.…
//
// (transformers' default logging_dir is <output_dir>/runs/<that name>; the stage's folder plays
// the output_dir.) A run of the pipeline opens one such folder per stage, on the stage's first
// logged line; `--resume` opens a new one, as a resumed TRL run does.
#pragma once

#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "rlhf/metrics.hpp"
#include "rlhf/tensorboard.hpp"

namespace rlhf {

class TensorBoardRuns : public MetricsWriter {
 public:
  // `run_dir`: the pipeline's output_dir; a stage's folder is run_dir / <stage name>, as the host
  // makes it (StageContext::stage_dir).
  explicit TensorBoardRuns(std::filesystem::path run_dir);

  // Each value under its tensorboard_tag(), and the line's epoch as "train/epoch" (the Trainer
  // puts the epoch into every log, evaluation logs included), at global step `step`.
  void log(const std::string& stage, std::int64_t step, double epoch,
           const std::vector<std::pair<std::string, double>>& values) override;
  void flush() override;

  // The event file of `stage`'s run; empty before the stage logged anything.
  std::filesystem::path event_file(const std::string& stage) const;

 private:
  std::filesystem::path run_dir_;
  std::string run_name_;  // the same for every stage of this run
  std::map<std::string, std::unique_ptr<TensorBoardWriter>> writers_;
};

// transformers' rewrite_logs (integrations/integration_utils.py) for one metric name:
// "eval_<x>" → "eval/<x>", "test_<x>" → "test/<x>", anything else → "train/<name>".
std::string tensorboard_tag(const std::string& name);

// "<Mon><DD>_<HH>-<MM>-<SS>_<hostname>" of local time `now`: transformers' default_logdir()
// (strftime "%b%d_%H-%M-%S" with English month names, then the host name).
std::string tensorboard_run_name(std::time_t now, const std::string& hostname);

}  // namespace rlhf
