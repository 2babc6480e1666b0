// MetricsSink — where training metrics go: one JSON object per logged step appended to
// `metrics.jsonl`, and to every attached MetricsWriter (TensorBoard: rlhf/tensorboard_runs.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/toolkit/file_writer.hpp"

namespace rlhf {

// Receives every logged line as MetricsSink::log() got it (names as in metrics.jsonl).
class MetricsWriter {
 public:
  virtual ~MetricsWriter();
  virtual void log(const std::string& stage, std::int64_t step, double epoch,
                   const std::vector<std::pair<std::string, double>>& values) = 0;
  virtual void flush() = 0;
};

class MetricsSink {
 public:
  // Appends to `dir/metrics.jsonl` (created if missing). A failed write (e.g. a full disk)
  // throws rlhf::Error naming the file.
  explicit MetricsSink(const std::filesystem::path& dir);
  ~MetricsSink();

  // One line: {"stage": ..., "step": ..., "epoch": ..., <values in order>}, then the same to
  // every writer. Non-finite values are written as null.
  void log(const std::string& stage, std::int64_t step, double epoch,
           const std::vector<std::pair<std::string, double>>& values);

  void add_writer(std::unique_ptr<MetricsWriter> writer);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  FileWriter out_;
  std::vector<std::unique_ptr<MetricsWriter>> writers_;
  std::mutex mutex_;
};

}  // namespace rlhf
