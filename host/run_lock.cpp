#include "run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>
#include <string>

#include "rlhf/error.hpp"

namespace fs = std::filesystem;

namespace rlhf::host {
namespace {

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
    if (text.size() > 65536) break;
  }
  return text;
}

// The holder's record, as one line: "pid 123 on host h since 2024-05-01 12:00:00: rlhf-host …".
std::string describe_holder(const std::string& record) {
  std::istringstream in(record);
  std::string line, pid, host, started, command;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "pid") pid = value;
    if (key == "host") host = value;
    if (key == "started") started = value;
    if (key == "command") command = value;
  }
  if (pid.empty()) return "a process that has not recorded itself yet";
  std::string out = "pid " + pid;
  if (!host.empty()) out += " on " + host;
  if (!started.empty()) out += ", started " + started;
  if (!command.empty()) out += ": " + command;
  return out;
}

std::string local_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

}  // namespace

RunLock::RunLock(const fs::path& output_dir, const std::string& command) {
  const fs::path file = output_dir / kRunLockFile;
  // O_NOFOLLOW: a symbolic link planted under the lock's name is an error, not a redirection.
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) throw Error(file.string() + ": cannot open the run lock: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_all(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw Error(output_dir.string() + ": output_dir is in use by another rlhf-host run (" +
                  describe_holder(holder) +
                  "); wait for it to finish, or choose another run.output_dir");
    throw Error(file.string() + ": cannot lock: " + std::strerror(err));
  }
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  std::string flat_command = command;
  for (char& c : flat_command)
    if (c == '\n') c = ' ';
  const std::string record = "pid=" + std::to_string(::getpid()) + "\nhost=" + host +
                             "\nstarted=" + local_time_now() + "\ncommand=" + flat_command + "\n";
  // Best effort: the lock is what counts; the record only makes the message helpful.
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t n = ::pwrite(fd_, record.data(), record.size(), 0);
    (void)n;
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace rlhf::host
