#include "run_folder.hpp"

#include <algorithm>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/replace_dir.hpp"
#include "run_fingerprint.hpp"
#include "run_lock.hpp"

namespace fs = std::filesystem;

namespace rlhf::host {
namespace {

// A real folder or file, not a symbolic link to one.
bool is_real_directory(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(fs::symlink_status(p, ec));
}

bool is_checkpoint_name(const std::string& name) {
  const std::string prefix = "checkpoint-";
  return name.size() > prefix.size() && name.rfind(prefix, 0) == 0 &&
         std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// The results in a stage folder, relative to it.
std::vector<std::string> stage_results(const fs::path& stage_dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(stage_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "stage_complete.json" || name == "model" || name == "adapter" ||
        name == "eval_predictions.jsonl" || is_checkpoint_name(name))
      found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  return found;
}

// A folder rlhf-host wrote for a stage: it holds a result, a fingerprint or a leftover of one.
bool is_stage_folder(const fs::path& dir) {
  if (!is_real_directory(dir)) return false;
  if (!stage_results(dir).empty()) return true;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir / kFingerprintFile, ec))) return true;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) == 0 || name.rfind("model.", 0) == 0 ||
        name.rfind("adapter.", 0) == 0 || name.rfind("stage_complete.json.", 0) == 0)
      return true;
  }
  return false;
}

// The files rlhf-host writes directly in output_dir (event files there are an earlier version's;
// a stage's TensorBoard run, <stage>/runs/, goes with its stage folder).
bool is_run_file(const std::string& name) {
  return name == "run.log" || name == "metrics.jsonl" || name == "pipeline.toml" ||
         name.rfind("events.out.tfevents.", 0) == 0;
}

std::string summary(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < 4; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > 4) out += ", … (" + std::to_string(items.size()) + " in all)";
  return out;
}

}  // namespace

bool stage_has_results(const fs::path& stage_dir) {
  return is_real_directory(stage_dir) && !stage_results(stage_dir).empty();
}

std::vector<std::string> previous_results(const fs::path& output_dir) {
  std::vector<std::string> found;
  std::error_code ec;
  const fs::path metrics = output_dir / "metrics.jsonl";
  if (fs::is_regular_file(fs::symlink_status(metrics, ec)) && fs::file_size(metrics, ec) > 0)
    found.push_back("metrics.jsonl");
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(output_dir, ec))
    if (is_real_directory(entry.path())) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end());
  for (const auto& dir : folders)
    for (const auto& name : stage_results(dir))
      found.push_back(dir.filename().string() + "/" + name);
  return found;
}

std::vector<std::string> prepare_run_folder(const fs::path& output_dir, ExistingResults mode) {
  std::vector<std::string> actions;
  const auto results = previous_results(output_dir);
  if (!results.empty() && mode == ExistingResults::refuse)
    throw Error(output_dir.string() + ": holds the results of a previous run (" + summary(results) +
                "); continue it with --resume, replace it with --overwrite, or choose another "
                "run.output_dir");
  if (mode == ExistingResults::overwrite) {
    std::vector<fs::path> entries;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(output_dir, ec))
      entries.push_back(entry.path());
    std::sort(entries.begin(), entries.end());
    std::vector<std::string> kept;
    for (const auto& p : entries) {
      const std::string name = p.filename().string();
      if (name == kRunLockFile) continue;
      if (is_stage_folder(p)) {
        remove_directory(p);  // remove_all inside: links are removed, never followed
        actions.push_back("--overwrite: removed " + p.string() + "/");
      } else if (is_run_file(name) && !is_real_directory(p)) {
        fs::remove(p);  // a link is removed as a link
        actions.push_back("--overwrite: removed " + p.string());
      } else if (name.rfind('.', 0) != 0) {
        kept.push_back(name);
      }
    }
    if (!kept.empty())
      actions.push_back("--overwrite: kept " + summary(kept) + " (not written by rlhf-host)");
  }
  // Leftovers of interrupted writes: in output_dir and in every stage folder.
  for (auto& line : clean_leftovers(output_dir)) actions.push_back(std::move(line));
  std::error_code ec;
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(output_dir, ec))
    if (is_real_directory(entry.path())) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end());
  for (const auto& dir : folders)
    if (is_stage_folder(dir))
      for (auto& line : clean_leftovers(dir)) actions.push_back(std::move(line));
  return actions;
}

}  // namespace rlhf::host
