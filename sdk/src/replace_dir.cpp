#include "rlhf/toolkit/replace_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "rlhf/error.hpp"

namespace fs = std::filesystem;

namespace rlhf {
namespace {

fs::path with_suffix(const fs::path& p, const char* suffix) {
  fs::path out = p;
  out += suffix;
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "X.tmp-<digits>" → the pid, or -1.
long staging_pid(const std::string& name) {
  const std::string marker = std::string(kStagingSuffix) + "-";
  const auto at = name.rfind(marker);
  if (at == std::string::npos || at == 0) return -1;
  const std::string digits = name.substr(at + marker.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stol(digits);
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

void remove_entry(const fs::path& p) {
  // remove_all removes a symbolic link itself, never what it points to.
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) throw Error(p.string() + ": cannot remove: " + ec.message());
}

}  // namespace

fs::path staging_path(const fs::path& target) { return with_suffix(target, kStagingSuffix); }

void replace_directory(const fs::path& staged, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target, ec))) {
    fs::rename(staged, target);
    return;
  }
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    remove_entry(staged);  // now the old folder
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    throw Error(target.string() + ": cannot replace with " + staged.string() + ": " +
                std::strerror(errno));
  const fs::path old = with_suffix(target, kReplacedSuffix);
  remove_entry(old);
  fs::rename(target, old);
  fs::rename(staged, target);
  remove_entry(old);
}

void remove_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return;
  const fs::path doomed = with_suffix(dir, kDeletingSuffix);
  remove_entry(doomed);
  fs::rename(dir, doomed);
  remove_entry(doomed);
}

std::vector<std::string> clean_leftovers(const fs::path& dir, const std::string& name_prefix,
                                         bool shared) {
  std::vector<std::string> actions;
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return actions;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir, ec)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  for (const auto& p : entries) {
    const std::string name = p.filename().string();
    if (name.rfind(name_prefix, 0) != 0) continue;
    if (ends_with(name, kReplacedSuffix)) {
      const fs::path real =
          p.parent_path() / name.substr(0, name.size() - std::strlen(kReplacedSuffix));
      if (fs::exists(fs::symlink_status(real, ec))) {
        remove_entry(p);
        actions.push_back("removed " + p.string() + " (the previous version of " + real.string() +
                          ")");
      } else {
        fs::rename(p, real);
        actions.push_back("restored " + real.string() + " from " + p.string() +
                          " (a replacement was interrupted)");
      }
      continue;
    }
    const long pid = staging_pid(name);
    const bool staged = (ends_with(name, kStagingSuffix) && !shared) || pid >= 0;
    if (!staged && !ends_with(name, kDeletingSuffix)) continue;
    if (shared && pid >= 0 && process_alive(pid)) continue;
    remove_entry(p);
    actions.push_back("removed " + p.string() + " (left by an interrupted write)");
  }
  return actions;
}

}  // namespace rlhf
