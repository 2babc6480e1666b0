#include "rlhf/tensorboard_runs.hpp"

#include <unistd.h>

#include <cstdio>

namespace rlhf {

namespace fs = std::filesystem;

std::string tensorboard_tag(const std::string& name) {
  if (name.rfind("eval_", 0) == 0) return "eval/" + name.substr(5);
  if (name.rfind("test_", 0) == 0) return "test/" + name.substr(5);
  return "train/" + name;
}

std::string tensorboard_run_name(std::time_t now, const std::string& hostname) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm t{};
  ::localtime_r(&now, &t);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%s%02d_%02d-%02d-%02d_", kMonths[t.tm_mon % 12], t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec);
  return buffer + hostname;
}

TensorBoardRuns::TensorBoardRuns(fs::path run_dir) : run_dir_(std::move(run_dir)) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  run_name_ = tensorboard_run_name(std::time(nullptr), host);
}

void TensorBoardRuns::log(const std::string& stage, std::int64_t step, double epoch,
                          const std::vector<std::pair<std::string, double>>& values) {
  auto& writer = writers_[stage];
  if (!writer) {
    const fs::path dir = run_dir_ / stage / "runs" / run_name_;
    fs::create_directories(dir);
    writer = std::make_unique<TensorBoardWriter>(dir);
  }
  for (const auto& [name, value] : values) writer->add_scalar(tensorboard_tag(name), value, step);
  writer->add_scalar("train/epoch", epoch, step);
}

void TensorBoardRuns::flush() {
  for (auto& [stage, writer] : writers_) writer->flush();
}

fs::path TensorBoardRuns::event_file(const std::string& stage) const {
  auto it = writers_.find(stage);
  return it == writers_.end() ? fs::path() : it->second->path();
}

}  // namespace rlhf
