// Gloo all-reduce on this machine: the time to sum a float32 buffer over N ranks (processes on
// loopback, each one intra-op thread) through the same code the Trainer's gradient all-reduce
// uses (rlhf::Distributed::all_reduce_sum: 32 MiB buckets reduced concurrently), for buffer
// sizes up to a 7B model's LoRA r 16 all-linear gradient (40.0M parameters, 160 MB).
//
//   build/bench/allreduce_bench [RANKS=2] [SECONDS_PER_SIZE=1]
//
// Prints per size the median time, the algorithm bandwidth (bytes / time) and the bus bandwidth
// (× 2(N−1)/N, what a ring moves per rank: comparable with nccl-tests' busbw).
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "rlhf/distributed.hpp"

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t length = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int run_rank(int rank, int ranks, int port, double seconds) {
  at::set_num_threads(1);
  rlhf::DistributedEnv env;
  env.rank = rank;
  env.world_size = ranks;
  env.local_rank = rank;
  env.local_world_size = ranks;
  env.master_port = port;
  auto& dist = rlhf::Distributed::get();
  dist.start(env, std::chrono::seconds(60));
  const std::vector<std::int64_t> sizes{1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 39976960};
  if (rank == 0)
    std::printf("%d ranks\n%12s %12s %10s %14s %14s\n", ranks, "floats", "MB", "median ms",
                "algbw GB/s", "busbw GB/s");
  for (const std::int64_t n : sizes) {
    torch::Tensor buffer = torch::full({n}, 1.0f);
    dist.all_reduce_sum({buffer}, "warm-up");
    std::vector<double> times;
    const auto began = std::chrono::steady_clock::now();
    // Every rank runs the same count: rank 0 decides when the time is up.
    for (;;) {
      const auto t0 = std::chrono::steady_clock::now();
      dist.all_reduce_sum({buffer}, "timed");
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      const bool done =
          times.size() >= 3 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() > seconds;
      if (dist.any(rank == 0 && done, "deciding")) break;
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double bytes = static_cast<double>(n) * 4;
    const double algbw = bytes / median / 1e9;
    if (rank == 0)
      std::printf("%12lld %12.2f %10.3f %14.3f %14.3f\n", static_cast<long long>(n), bytes / 1e6,
                  median * 1e3, algbw, algbw * 2.0 * (ranks - 1) / ranks);
  }
  dist.barrier("end");
  std::fflush(stdout);  // the rank leaves through _exit
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int ranks = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (ranks < 2) {
    std::fprintf(stderr, "usage: allreduce_bench [RANKS>=2] [SECONDS_PER_SIZE]\n");
    return 2;
  }
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < ranks; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(run_rank(r, ranks, port, seconds));
    pids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    failed |= !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  return failed;
}
