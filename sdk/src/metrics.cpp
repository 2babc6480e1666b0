#include "rlhf/metrics.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"

namespace rlhf {

ScalarWriter::~ScalarWriter() = default;

MetricsSink::MetricsSink(const std::filesystem::path& dir) : path_(dir / "metrics.jsonl") {
  out_.open(path_, std::ios::app);
  if (!out_) throw Error(path_.string() + ": cannot open for writing");
}

MetricsSink::~MetricsSink() {
  for (auto& w : writers_) w->flush();
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
    for (auto& w : writers_) w->add_scalar(stage + "/" + name, value, step);
  }
  out_ << line.dump() << '\n';
  out_.flush();
  for (auto& w : writers_) w->flush();
}

void MetricsSink::add_writer(std::unique_ptr<ScalarWriter> writer) {
  std::lock_guard<std::mutex> lock(mutex_);
  writers_.push_back(std::move(writer));
}

}  // namespace rlhf
