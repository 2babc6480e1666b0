// Progress of a training stage: a one-line bar with ETA and tokens/s, redrawn in place when
// stderr is a terminal; otherwise silent, and the loop's periodic log lines (which carry the
// same step / ETA / tokens/s text from status()) are the progress report.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace rlhf {

class Progress {
 public:
  // `total` optimizer steps; `start` steps already done (resume). `interactive` defaults to
  // isatty(stderr).
  Progress(std::string label, std::int64_t total, std::int64_t start);
  Progress(std::string label, std::int64_t total, std::int64_t start, bool interactive);
  ~Progress();

  // One optimizer step finished, having processed `tokens` tokens.
  void step(std::int64_t tokens, double loss);
  // "step 12/100 (12%) | 345 tok/s | ETA 1m05s"
  std::string status() const;
  // Clears the bar line (before other console output, and at the end).
  void clear();
  bool interactive() const { return interactive_; }

  static std::string format_duration(double seconds);  // "1h02m", "3m05s", "42s"

 private:
  void draw();
  std::string label_;
  std::int64_t total_, start_, done_;
  std::int64_t tokens_ = 0;
  double last_loss_ = 0;
  bool interactive_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point began_;
};

}  // namespace rlhf
