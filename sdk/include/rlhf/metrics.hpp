// MetricsSink — where training metrics go: one JSON object per logged step appended to
// `metrics.jsonl`, and TensorBoard scalars when an event writer is attached.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/file_writer.hpp"

namespace rlhf {

class ScalarWriter {
 public:
  virtual ~ScalarWriter();
  virtual void add_scalar(const std::string& tag, double value, std::int64_t step) = 0;
  virtual void flush() = 0;
};

class MetricsSink {
 public:
  // Appends to `dir/metrics.jsonl` (created if missing). A failed write (e.g. a full disk)
  // throws rlhf::Error naming the file.
  explicit MetricsSink(const std::filesystem::path& dir);
  ~MetricsSink();

  // One line: {"stage": ..., "step": ..., "epoch": ..., <values in order>}. TensorBoard tags are
  // "<stage>/<name>". Non-finite values are written as null.
  void log(const std::string& stage, std::int64_t step, double epoch,
           const std::vector<std::pair<std::string, double>>& values);

  void add_writer(std::unique_ptr<ScalarWriter> writer);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  FileWriter out_;
  std::vector<std::unique_ptr<ScalarWriter>> writers_;
  std::mutex mutex_;
};

}  // namespace rlhf
