#include "rlhf/checkpoint.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <vector>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/replace_dir.hpp"

namespace fs = std::filesystem;

namespace rlhf {

namespace {

constexpr const char* kFormat = "rlhf-host-checkpoint";

// "checkpoint-<step>" → step, or -1 for anything else (including "*.tmp").
std::int64_t checkpoint_step(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string prefix = "checkpoint-";
  if (name.rfind(prefix, 0) != 0) return -1;
  std::string digits = name.substr(prefix.size());
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

std::vector<std::pair<std::int64_t, fs::path>> completed_checkpoints(const fs::path& stage_dir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  if (!fs::is_directory(stage_dir)) return found;
  for (const auto& entry : fs::directory_iterator(stage_dir)) {
    std::int64_t step = checkpoint_step(entry.path());
    if (step >= 0 && fs::exists(entry.path() / "trainer_state.json"))
      found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

at::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// LibTorch's archive writer aborts the process (std::terminate) when its stream fails: the
// failure throws, and its destructor throws again while unwinding. So it gets a sink that never
// fails, and the first write error is reported here, naming the file.
void save_archive(torch::serialize::OutputArchive& archive, const fs::path& file) {
  FileWriter out(file);
  archive.save_to(
      [&out](const void* data, std::size_t size) { return out.write_or_remember(data, size); });
  out.close();
}

}  // namespace

void save_checkpoint(const fs::path& dir, const NamedTensors& trainable,
                     const torch::optim::Optimizer& optimizer, const TrainerState& state,
                     const std::function<void(const fs::path& tmp_dir)>& write_extra) {
  const fs::path tmp = staging_path(dir);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    torch::serialize::OutputArchive tensors;
    for (const auto& [name, t] : trainable) tensors.write(name, t.detach());
    save_archive(tensors, tmp / "trainable.pt");

    torch::serialize::OutputArchive opt;
    optimizer.save(opt);
    save_archive(opt, tmp / "optimizer.pt");

    torch::serialize::OutputArchive rng;
    rng.write("cpu", cpu_rng_state());
    save_archive(rng, tmp / "rng.pt");

    if (write_extra) write_extra(tmp);

    nlohmann::ordered_json j;
    j["format"] = kFormat;
    j["version"] = kCheckpointVersion;
    j["global_step"] = state.global_step;
    j["epoch"] = state.epoch;
    j["micro_batch"] = state.micro_batch;
    j["extra"] = state.extra;
    // Written last: a folder holding trainer_state.json is complete (completed_checkpoints).
    FileWriter out(tmp / "trainer_state.json");
    out.write(j.dump(2) + "\n");
    out.close();
  } catch (...) {
    // A full disk needs the space back, and a half checkpoint is worth nothing.
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  replace_directory(tmp, dir);
}

TrainerState load_checkpoint(const fs::path& dir, const NamedTensors& trainable,
                             torch::optim::Optimizer& optimizer) {
  const fs::path state_file = dir / "trainer_state.json";
  std::ifstream in(state_file);
  if (!in) throw Error(state_file.string() + ": missing; not a complete rlhf-host checkpoint");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw Error(state_file.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (j.value("format", "") != kFormat || j.value("version", 0) != kCheckpointVersion)
    throw Error(state_file.string() + ": format '" + j.value("format", "") + "' version " +
                std::to_string(j.value("version", 0)) + " is not " + kFormat + " version " +
                std::to_string(kCheckpointVersion) +
                " (HINT: resume with the rlhf-host that wrote it, or start without --resume)");
  TrainerState state;
  state.global_step = j.at("global_step").get<std::int64_t>();
  state.epoch = j.at("epoch").get<std::int64_t>();
  state.micro_batch = j.at("micro_batch").get<std::int64_t>();
  state.extra = j.value("extra", nlohmann::json::object());

  torch::serialize::InputArchive tensors;
  tensors.load_from((dir / "trainable.pt").string());
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : trainable) {
    torch::Tensor saved;
    if (!tensors.try_read(name, saved))
      throw Error((dir / "trainable.pt").string() + ": tensor '" + name + "' missing");
    if (saved.sizes() != t.sizes())
      throw Error((dir / "trainable.pt").string() + ": tensor '" + name + "' has shape " +
                  c10::str(saved.sizes()) + ", the model has " + c10::str(t.sizes()));
    t.copy_(saved);
  }

  torch::serialize::InputArchive opt;
  opt.load_from((dir / "optimizer.pt").string());
  optimizer.load(opt);

  torch::serialize::InputArchive rng;
  rng.load_from((dir / "rng.pt").string());
  torch::Tensor rng_state;
  rng.read("cpu", rng_state);
  set_cpu_rng_state(rng_state);
  return state;
}

std::optional<fs::path> latest_checkpoint(const fs::path& stage_dir) {
  auto found = completed_checkpoints(stage_dir);
  if (found.empty()) return std::nullopt;
  return found.back().second;
}

void prune_checkpoints(const fs::path& stage_dir, std::int64_t keep) {
  if (keep <= 0) return;
  auto found = completed_checkpoints(stage_dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < found.size(); ++i)
    remove_directory(found[i].second);
}

}  // namespace rlhf
