// The bad-input catalogue (docs/reliability.md) runs the real rlhf-host binary as a user would:
// a child process with a time limit, its exit code or the signal that killed it, its combined
// output, and the files it left. Tests assert all four.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace rlhf::reliability {

namespace fs = std::filesystem;
using rlhf::test::TempDir;

inline const fs::path kHost = RLHF_HOST_BINARY;
inline const fs::path kSource = RLHF_SOURCE_DIR;

inline void write_file(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every path under `dir` (relative), for "what was left on disk" assertions.
inline std::set<std::string> tree(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec))
    out.insert(fs::relative(entry.path(), dir).string());
  return out;
}

struct HostResult {
  int exit_code = -1;  // the exit status when the process exited
  int signal = 0;      // the signal that ended it, 0 when it exited
  bool timed_out = false;
  std::string output;  // stdout and stderr together

  // "exit 1" / "killed by signal 11" / "timed out": for assertion messages.
  std::string describe() const {
    std::string how = timed_out ? "timed out"
                      : signal  ? "killed by signal " + std::to_string(signal)
                                : "exit " + std::to_string(exit_code);
    return how + "; output:\n" + output;
  }
};

// A running rlhf-host: started by start_host, finished by wait().
class HostProcess {
 public:
  HostProcess(const std::vector<std::string>& args, const fs::path& cwd,
              const std::map<std::string, std::string>& env = {}) {
    log_ = rlhf::test::process_temp_path("host-" + std::to_string(counter()++) + ".out");
    fs::create_directories(log_.parent_path());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      int null_fd = ::open("/dev/null", O_RDONLY);
      ::dup2(null_fd, 0);
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> argv;
      std::string host = kHost.string();
      argv.push_back(host.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(host.c_str(), argv.data());
      ::_exit(127);
    }
  }
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;
  ~HostProcess() {
    if (pid_ > 0 && !done_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  void send(int sig) const { ::kill(pid_, sig); }
  std::string output_so_far() const { return read_file(log_); }

  // Waits until `text` appears in the output (true) or the process ends / time runs out.
  bool wait_for_output(const std::string& text, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (output_so_far().find(text) != std::string::npos) return true;
      int status = 0;
      if (!done_ && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        done_ = true;
        status_ = status;
        return output_so_far().find(text) != std::string::npos;
      }
      if (done_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  HostResult wait(double seconds = 300) {
    HostResult r;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        done_ = true;
        status_ = status;
        break;
      }
      if (std::chrono::steady_clock::now() > until) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        done_ = true;
        r.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (WIFEXITED(status_)) r.exit_code = WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) r.signal = WTERMSIG(status_);
    r.output = read_file(log_);
    return r;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  pid_t pid_ = -1;
  bool done_ = false;
  int status_ = 0;
  fs::path log_;
};

// Runs `rlhf-host args...` in `cwd` to completion (killed after `seconds`: a hang fails).
inline HostResult run_host(const std::vector<std::string>& args, const fs::path& cwd,
                           double seconds = 300,
                           const std::map<std::string, std::string>& env = {}) {
  HostProcess process(args, cwd, env);
  return process.wait(seconds);
}

// The contract for bad input: exit 1 (no crash, no hang), one `rlhf-host: error:` line that
// contains every `needles` text.
inline void expect_error(const HostResult& r, std::initializer_list<std::string> needles) {
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  const auto at = r.output.find("rlhf-host: error: ");
  ASSERT_NE(at, std::string::npos) << r.describe();
  const std::string line = r.output.substr(at, r.output.find('\n', at) - at);
  for (const auto& n : needles)
    EXPECT_NE(line.find(n), std::string::npos) << "expected '" << n << "' in the error line\n"
                                               << r.describe();
}

// A tiny random Llama (vocab 400, hidden 32, 2 layers) with a sentencepiece tokenizer, made by
// `rlhf-host init-model` once per build of the host and shared by every test process (ctest
// runs each case as its own process): made under a private name, then renamed into place; a
// process that loses the race keeps the winner's copy. Tests copy it when they damage it.
inline fs::path tiny_model() {
  static const fs::path dir = [] {
    const auto stamp = fs::last_write_time(kHost).time_since_epoch().count();
    const fs::path out =
        fs::path(RLHF_BINARY_DIR) / "test-fixtures" / ("tiny-model-" + std::to_string(stamp));
    if (fs::exists(out / "config.json")) return out;
    const fs::path mine = out.string() + ".tmp-" + std::to_string(::getpid());
    fs::create_directories(out.parent_path());
    auto r = run_host(
        {"init-model", "--out", mine.string(), "--corpus",
         (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size", "400",
         "--hidden-size", "32", "--intermediate-size", "64", "--max-position-embeddings", "256"},
        fs::current_path(), 120);
    if (r.exit_code != 0) ADD_FAILURE() << "init-model failed: " << r.describe();
    std::error_code ec;
    fs::rename(mine, out, ec);
    if (ec) fs::remove_all(mine, ec);  // another process was first
    return out;
  }();
  return dir;
}

// A copy of the tiny model under `dir`, to damage.
inline fs::path copy_of_tiny_model(const fs::path& dir) {
  fs::path out = dir / "model";
  fs::create_directories(out);
  fs::copy(tiny_model(), out, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  return out;
}

// Data files of the shipped quickstart task.
inline fs::path sft_data() { return kSource / "examples/data/polite_sft.jsonl"; }
inline fs::path pref_data() { return kSource / "examples/data/polite_train.jsonl"; }

// A one-stage pipeline `pipeline.toml` in `dir` with output_dir `dir/run`. `stage` is the body of
// the [[stage]] table (its keys, one per line); `extra` goes before it (e.g. an [adapter]).
inline fs::path write_pipeline(const fs::path& dir, const fs::path& model, const std::string& stage,
                               const std::string& extra = "") {
  std::ostringstream toml;
  toml << "[run]\noutput_dir = \"" << (dir / "run").string() << "\"\nseed = 1\nthreads = 1\n"
       << "[model]\npath = \"" << model.string() << "\"\nchat_template = \"zephyr\"\n"
       << extra << "\n[[stage]]\n"
       << stage << "\n";
  write_file(dir / "pipeline.toml", toml.str());
  return dir / "pipeline.toml";
}

// A short SFT stage on the shipped data.
inline std::string sft_stage(const std::string& data_path, int steps = 2) {
  return "name = \"sft\"\nalgorithm = \"sft\"\nmax_steps = " + std::to_string(steps) +
         "\nper_device_train_batch_size = 2\nmax_length = 64\ndata = { plugin = \"jsonl\", path = "
         "\"" +
         data_path + "\" }";
}

}  // namespace rlhf::reliability
