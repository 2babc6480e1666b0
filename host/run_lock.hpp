// RunLock — a run owns its output_dir: an exclusive flock(2) on `output_dir/.rlhf-host.lock`,
// held for the life of the process. A second run into the same folder fails at once, naming the
// folder and the holder (pid, host, start time, command), instead of interleaving metrics and
// checkpoints. The kernel releases the lock when the holder dies, even by SIGKILL, so a lock
// left behind never blocks the next run; the file itself stays (removing it would race with a
// run that just opened it).
#pragma once

#include <filesystem>
#include <string>

namespace rlhf::host {

inline constexpr const char* kRunLockFile = ".rlhf-host.lock";

class RunLock {
 public:
  // Takes the lock on `output_dir` (which must exist) and records who holds it; `command` is the
  // holder's command line. Throws rlhf::Error naming the folder and the holder when another
  // process has it.
  RunLock(const std::filesystem::path& output_dir, const std::string& command);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace rlhf::host
