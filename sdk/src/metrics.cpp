#include "rlhf/metrics.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace rlhf {

MetricsWriter::~MetricsWriter() = default;

MetricsSink::MetricsSink(const std::filesystem::path& dir)
    : path_(dir / "metrics.jsonl"), out_(path_, FileWriter::Mode::append) {}

MetricsSink::~MetricsSink() {
  for (auto& w : writers_) {
    try {
      w->flush();
    } catch (const std::exception&) {
      // Reported by the log() that failed; a destructor must not throw.
    }
  }
}

void MetricsSink::log(const std::string& stage, std::int64_t step, double epoch,
                      const std::vector<std::pair<std::string, double>>& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::ordered_json line;
  line["stage"] = stage;
  line["step"] = step;
  line["epoch"] = epoch;
  for (const auto& [name, value] : values) {
    if (std::isfinite(value))
      line[name] = value;
    else
      line[name] = nullptr;
  }
  // One write() per line: a line is whole in the file or absent (O_APPEND).
  out_.write(line.dump() + "\n");
  for (auto& w : writers_) {
    w->log(stage, step, epoch, values);
    w->flush();
  }
}

void MetricsSink::add_writer(std::unique_ptr<MetricsWriter> writer) {
  std::lock_guard<std::mutex> lock(mutex_);
  writers_.push_back(std::move(writer));
}

}  // namespace rlhf
