// Distributed — this process's place in a data-parallel run, and the collectives the training
// loop needs (docs/architecture.md, "Data parallel").
//
// A run is started either by `rlhf-host --nproc N` (host/local_launcher.hpp) or by any launcher
// that sets torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT): torchrun, srun wrappers. With a world size above 1 the host calls start() once:
// the ranks meet through c10d's TCPStore at MASTER_ADDR:MASTER_PORT (hosted by rank 0, or by the
// launcher when TORCHELASTIC_USE_AGENT_STORE=True, as torchrun and --nproc do) and form a c10d
// ProcessGroupGloo. Without start() (world size 1) there is no process group and every call
// below is a no-op, so a one-rank run executes exactly the code it always did.
//
// Every collective has the run's timeout (run.dist_timeout_s). When one fails — a rank died,
// threw, or did not arrive in time — it throws DistributedFailure naming the rank(s): a rank that
// stopped with an error leaves its message in the store (report_failure), a rank that was killed
// stops its heartbeat in the store. The survivors then exit 1; nothing is written from a step
// that did not complete, and checkpoints are whole (written by rank 0, renamed into place).
#pragma once

#include <c10/core/Device.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/error.hpp"

namespace rlhf {

// What the launcher put in the environment. World size 1 when WORLD_SIZE is unset.
struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True: the launcher hosts the store

  // Reads the variables; a malformed or inconsistent value throws Error naming the variable.
  static DistributedEnv from_environment();
};

// A collective failed: another rank died, threw, or did not arrive within the timeout. Its
// message names this rank, what it was doing and the rank(s) that stopped.
class DistributedFailure : public Error {
 public:
  using Error::Error;
};

class Distributed {
 public:
  // The process's one instance: world size 1 until start().
  static Distributed& get();

  // Joins the process group (blocking until every rank arrived, at most `timeout`). Tensors on a
  // CUDA `device` are reduced by a second group, ProcessGroupNCCL, in a build configured with
  // -DRLHF_NCCL=ON against a CUDA LibTorch; Gloo carries everything else (metrics, flags).
  void start(const DistributedEnv& env, std::chrono::milliseconds timeout,
             c10::Device device = c10::Device(c10::kCPU));

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_world_size() const { return local_world_size_; }
  bool active() const { return world_size_ > 1; }
  // Rank 0: the one that writes logs, metrics, checkpoints and results.
  bool is_main() const { return rank_ == 0; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Sums each tensor over the ranks, in place. Tensors are flattened into buckets of one dtype
  // (at most bucket_bytes() each) whose reductions run concurrently. `what` names the operation
  // in an error ("the gradient all-reduce of step 3").
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors, const std::string& what);
  // The buckets all_reduce_sum makes: runs of consecutive tensors of one dtype and device, at
  // most bucket_bytes() each (a larger tensor is a bucket of its own), as indices into `tensors`.
  std::vector<std::vector<std::size_t>> buckets(const std::vector<torch::Tensor>& tensors) const;
  // run.dist_bucket_mb; 32 MiB by default.
  std::int64_t bucket_bytes() const { return bucket_bytes_; }
  void set_bucket_bytes(std::int64_t bytes) { bucket_bytes_ = std::max<std::int64_t>(1, bytes); }

  // A sum over the ranks started and not yet waited for.
  class Reduction {
   public:
    virtual ~Reduction() = default;
  };
  // Starts summing one contiguous tensor over the ranks, in place; wait() finishes it (and
  // reports a failure). Every rank starts the same reductions in the same order.
  std::unique_ptr<Reduction> start_all_reduce_sum(const torch::Tensor& flat);
  void wait(Reduction& reduction, const std::string& what);
  // Copies rank 0's values into each tensor, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what);
  // Every rank's `mine`, indexed by rank.
  std::vector<std::string> all_gather(const std::string& mine, const std::string& what);
  // True on every rank when `mine` is true on any.
  bool any(bool mine, const std::string& what);
  void barrier(const std::string& what);

  // Leaves `message` in the store for the other ranks to name this rank with (best effort; this
  // rank is about to exit with that error).
  void report_failure(const std::string& message) noexcept;

  ~Distributed() = delete;  // lives until exit: a process group is never torn down mid-failure

 private:
  Distributed() = default;
  struct Group;
  [[noreturn]] void failed(const std::string& what, const std::string& cause);

  int rank_ = 0;
  int world_size_ = 1;
  int local_world_size_ = 1;
  std::chrono::milliseconds timeout_{0};
  std::int64_t bucket_bytes_ = 32ll << 20;
  Group* group_ = nullptr;  // never freed (see ~Distributed)
};

}  // namespace rlhf
