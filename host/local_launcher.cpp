#include "local_launcher.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "rlhf/error.hpp"

extern char** environ;

namespace rlhf::host {

namespace {

// The ranks' pids, for the signal handler that passes SIGINT/SIGTERM on.
constexpr int kMaxRanks = 1024;
pid_t g_children[kMaxRanks];
volatile sig_atomic_t g_count = 0;

void pass_on(int sig) {
  for (int i = 0; i < g_count; ++i)
    if (g_children[i] > 0) ::kill(g_children[i], sig);
}

// The variables a rank finds: this process's environment without torchrun's names, then its own.
std::vector<std::string> rank_environment(int rank, int nproc, int port) {
  static const char* const kNames[] = {
      "RANK=",       "WORLD_SIZE=",  "LOCAL_RANK=",  "LOCAL_WORLD_SIZE=",
      "GROUP_RANK=", "MASTER_ADDR=", "MASTER_PORT=", "TORCHELASTIC_USE_AGENT_STORE="};
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (std::none_of(std::begin(kNames), std::end(kNames),
                     [&](const char* n) { return entry.rfind(n, 0) == 0; }))
      out.push_back(entry);
  }
  out.push_back("RANK=" + std::to_string(rank));
  out.push_back("WORLD_SIZE=" + std::to_string(nproc));
  out.push_back("LOCAL_RANK=" + std::to_string(rank));
  out.push_back("LOCAL_WORLD_SIZE=" + std::to_string(nproc));
  out.push_back("GROUP_RANK=0");
  out.push_back("MASTER_ADDR=127.0.0.1");
  out.push_back("MASTER_PORT=" + std::to_string(port));
  out.push_back("TORCHELASTIC_USE_AGENT_STORE=True");
  return out;
}

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  return "exit " + std::to_string(WEXITSTATUS(status));
}

// Finished without fault: done, or stopped by a signal together with the others (exit 130).
bool ended_well(int status) {
  return WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 130);
}

}  // namespace

int launch_local_ranks(int nproc, const std::vector<std::string>& args,
                       std::chrono::seconds timeout, spdlog::logger& logger) {
  if (nproc > kMaxRanks)
    throw Error("--nproc " + std::to_string(nproc) + ": at most " + std::to_string(kMaxRanks));
  // The store lives here, so a rank that dies takes nothing the others need with it.
  c10d::TCPStoreOptions options;
  options.port = 0;  // a free port, chosen by the system
  options.isServer = true;
  options.waitWorkers = false;
  options.timeout = timeout;
  c10d::TCPStore store("127.0.0.1", options);
  const int port = store.getPort();

  char self[4096];
  const ssize_t length = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) throw Error("--nproc: cannot find this program's path (/proc/self/exe)");
  self[length] = '\0';

  struct sigaction action {};
  action.sa_handler = pass_on;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  logger.info("--nproc {}: starting {} ranks on this machine (rendezvous 127.0.0.1:{})", nproc,
              nproc, port);
  const pid_t launcher = ::getpid();
  std::vector<pid_t> pids;
  for (int rank = 0; rank < nproc; ++rank) {
    // Everything exec needs, made before fork: the child may only call async-signal-safe code.
    std::vector<std::string> env = rank_environment(rank, nproc, port);
    std::vector<char*> envp, argv;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> arguments = args;
    argv.push_back(self);
    for (auto& a : arguments) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      pass_on(SIGKILL);
      throw Error("--nproc: fork failed: " + std::string(std::strerror(errno)));
    }
    if (pid == 0) {
      // Its own process group: a terminal's Ctrl-C reaches the launcher, which passes it on
      // once (a second SIGINT kills a rank). It dies with the launcher.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != launcher) ::_exit(1);
      ::execve(self, argv.data(), envp.data());
      ::_exit(127);
    }
    pids.push_back(pid);
    g_children[rank] = pid;
    g_count = rank + 1;
  }

  std::vector<int> status(static_cast<std::size_t>(nproc), 0);
  std::vector<bool> done(static_cast<std::size_t>(nproc), false);
  int first_failure = -1;
  std::vector<int> killed;
  const auto grace =
      std::min<std::chrono::seconds>(timeout, std::chrono::seconds(30)) + std::chrono::seconds(10);
  auto deadline = std::chrono::steady_clock::time_point::max();
  for (;;) {
    int running = 0;
    for (int r = 0; r < nproc; ++r) {
      if (done[r]) continue;
      int st = 0;
      if (::waitpid(pids[r], &st, WNOHANG) == pids[r]) {
        done[r] = true;
        status[r] = st;
        g_children[r] = -1;
        if (!ended_well(st) && first_failure < 0) {
          first_failure = r;
          deadline = std::chrono::steady_clock::now() + grace;
        }
      } else {
        ++running;
      }
    }
    if (running == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (int r = 0; r < nproc; ++r)
        if (!done[r]) {
          ::kill(pids[r], SIGKILL);
          ::waitpid(pids[r], &status[r], 0);
          done[r] = true;
          g_children[r] = -1;
          killed.push_back(r);
        }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  if (first_failure >= 0) {
    std::string others;
    for (int r = 0; r < nproc; ++r) {
      if (r == first_failure) continue;
      const bool was_killed = std::find(killed.begin(), killed.end(), r) != killed.end();
      others += (others.empty() ? "" : ", ") + std::string("rank ") + std::to_string(r) + ": " +
                (was_killed ? "still running, killed" : how_it_ended(status[r]));
    }
    throw Error("--nproc " + std::to_string(nproc) + ": rank " + std::to_string(first_failure) +
                " failed (" + how_it_ended(status[first_failure]) + ")" +
                (others.empty() ? "" : "; " + others));
  }
  for (int r = 0; r < nproc; ++r)
    if (WEXITSTATUS(status[r]) == 130) return 130;
  return 0;
}

}  // namespace rlhf::host
