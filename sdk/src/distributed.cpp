// Debian's LibTorch is built with Gloo; its ProcessGroupGloo header is behind this macro.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif

#include "rlhf/distributed.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RLHF_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

namespace rlhf {

namespace {

// The first line of an exception's text (LibTorch's carry a backtrace).
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int env_int(const char* name, int fallback, int min) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || errno != 0 || n < min || n > 1000000)
    throw Error(std::string("environment variable ") + name + "='" + v +
                "' is not an integer >= " + std::to_string(min));
  return static_cast<int>(n);
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (std::size_t i = 0; i < ranks.size(); ++i)
    out += (i ? (i + 1 == ranks.size() ? " and " : ", ") : "") + std::to_string(ranks[i]);
  return out;
}

std::string failed_key(int rank) { return "rlhf/failed/" + std::to_string(rank); }
std::string heartbeat_key(int rank) { return "rlhf/heartbeat/" + std::to_string(rank); }

constexpr auto kHeartbeat = std::chrono::milliseconds(500);

}  // namespace

DistributedEnv DistributedEnv::from_environment() {
  DistributedEnv env;
  env.world_size = env_int("WORLD_SIZE", 1, 1);
  if (env.world_size == 1) return env;
  env.rank = env_int("RANK", -1, 0);
  if (env.rank < 0)
    throw Error("WORLD_SIZE=" + std::to_string(env.world_size) + " but RANK is not set");
  if (env.rank >= env.world_size)
    throw Error("RANK=" + std::to_string(env.rank) +
                " is not below WORLD_SIZE=" + std::to_string(env.world_size));
  env.local_rank = env_int("LOCAL_RANK", 0, 0);
  env.local_world_size = env_int("LOCAL_WORLD_SIZE", 1, 1);
  env.master_addr = env_or("MASTER_ADDR", "127.0.0.1");
  env.master_port = env_int("MASTER_PORT", 29500, 1);
  if (env.master_port > 65535)
    throw Error("MASTER_PORT=" + std::to_string(env.master_port) + " is not a TCP port");
  const std::string agent = env_or("TORCHELASTIC_USE_AGENT_STORE", "");
  env.agent_store = agent == "True" || agent == "true" || agent == "1";
  return env;
}

struct Distributed::Group {
  DistributedEnv env;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  // What reduces and broadcasts tensors on the run's device: pg, or NCCL for CUDA.
  c10::intrusive_ptr<c10d::ProcessGroup> device_pg;

  c10d::ProcessGroup& group_for(const torch::Tensor& t) {
    return t.is_cuda() ? *device_pg : static_cast<c10d::ProcessGroup&>(*pg);
  }
  std::thread heartbeat;
  std::atomic<bool> stop{false};

  // Why the collective failed, from the other ranks' point of view: the messages ranks left
  // before exiting, else the ranks whose heartbeat stopped. Empty when nothing is known.
  std::string diagnose() {
    const int me = env.rank;
    try {
      std::vector<std::string> messages;
      for (int r = 0; r < env.world_size; ++r) {
        if (r == me || !store->check({failed_key(r)})) continue;
        const auto bytes = store->get(failed_key(r));
        messages.push_back("rank " + std::to_string(r) +
                           " failed: " + std::string(bytes.begin(), bytes.end()));
      }
      if (!messages.empty()) {
        std::string out;
        for (const auto& m : messages) out += (out.empty() ? "" : "; ") + m;
        return out;
      }
      std::map<int, std::int64_t> before;
      for (int r = 0; r < env.world_size; ++r)
        if (r != me) before[r] = store->add(heartbeat_key(r), 0);
      std::this_thread::sleep_for(5 * kHeartbeat);
      std::vector<int> stopped;
      for (const auto& [r, count] : before)
        if (store->add(heartbeat_key(r), 0) == count) stopped.push_back(r);
      if (stopped.empty()) return "";
      return std::string(stopped.size() == 1 ? "rank " : "ranks ") + rank_list(stopped) +
             " stopped responding (killed, crashed or stopped)";
    } catch (const std::exception&) {
      const std::string at = env.master_addr + ":" + std::to_string(env.master_port);
      return env.agent_store ? "the rendezvous store at " + at +
                                   " is gone (the launcher exited, or rank 0's machine)"
                             : "rank 0, which hosts the rendezvous store at " + at + ", is gone";
    }
  }
};

Distributed& Distributed::get() {
  static Distributed* instance = new Distributed();
  return *instance;
}

void Distributed::start(const DistributedEnv& env, std::chrono::milliseconds timeout,
                        c10::Device device) {
  if (group_) throw Error("the process group was already started");
  if (env.world_size <= 1) return;
  rank_ = env.rank;
  world_size_ = env.world_size;
  local_world_size_ = env.local_world_size;
  timeout_ = timeout;
  auto* group = new Group();
  group->env = env;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env.master_port);
    options.isServer = !env.agent_store && env.rank == 0;
    options.numWorkers =
        env.agent_store ? c10::nullopt : c10::optional<std::size_t>(env.world_size);
    options.waitWorkers = !env.agent_store;
    options.timeout = timeout;
    group->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    throw DistributedFailure("rank " + std::to_string(rank_) +
                             ": rendezvous through the TCPStore at " + where + " failed within " +
                             std::to_string(timeout.count() / 1000) + " s (" +
                             first_line(e.what()) + ")");
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // The interface the other ranks reach this one on: GLOO_SOCKET_IFNAME as in PyTorch; on
    // loopback 127.0.0.1; else the address this machine's hostname resolves to.
    const std::string ifname = env_or("GLOO_SOCKET_IFNAME", "");
    if (!ifname.empty())
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", group->store);
    group->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank_, world_size_, options);
  } catch (const std::exception& e) {
    throw DistributedFailure("rank " + std::to_string(rank_) + ": forming the Gloo group of " +
                             std::to_string(world_size_) + " ranks at " + where +
                             " failed within " + std::to_string(timeout.count() / 1000) + " s (" +
                             first_line(e.what()) + ")");
  }
  group->device_pg = group->pg;
  if (device.is_cuda()) {
#ifdef RLHF_WITH_NCCL
    try {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      group->device_pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", group->store), rank_, world_size_,
          options);
    } catch (const std::exception& e) {
      throw DistributedFailure("rank " + std::to_string(rank_) + ": forming the NCCL group of " +
                               std::to_string(world_size_) + " ranks failed (" +
                               first_line(e.what()) + ")");
    }
#else
    throw Error("data parallel on " + device.str() +
                ": this build has no NCCL (configure with -DRLHF_NCCL=ON against a CUDA "
                "LibTorch)");
#endif
  }
  // The heartbeat says "alive" to the others, so that a survivor of a failed collective can
  // name a rank that was killed. Its own connection: TCPStore clients are not shared by threads.
  group->heartbeat = std::thread([group] {
    try {
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(group->env.master_port);
      options.isServer = false;
      options.waitWorkers = false;
      options.timeout = std::chrono::seconds(10);
      c10d::TCPStore store(group->env.master_addr, options);
      const std::string key = heartbeat_key(group->env.rank);
      while (!group->stop) {
        store.add(key, 1);
        std::this_thread::sleep_for(kHeartbeat);
      }
    } catch (const std::exception&) {
      // The store is gone: the run is ending, and the collectives report why.
    }
  });
  group->heartbeat.detach();
  group_ = group;
}

void Distributed::failed(const std::string& what, const std::string& cause) {
  std::string why = group_->diagnose();
  if (why.empty()) why = "no rank reported an error";
  throw DistributedFailure(
      "rank " + std::to_string(rank_) + ": " + what + " failed: " + why + " (" + first_line(cause) +
      "; run.dist_timeout_s = " + std::to_string(timeout_.count() / 1000) + ")");
}

std::vector<std::vector<std::size_t>> Distributed::buckets(
    const std::vector<torch::Tensor>& tensors) const {
  std::vector<std::vector<std::size_t>> out;
  std::int64_t bytes = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const torch::Tensor& t = tensors[i];
    const std::int64_t size = t.numel() * static_cast<std::int64_t>(t.element_size());
    if (out.empty() || tensors[out.back().front()].scalar_type() != t.scalar_type() ||
        tensors[out.back().front()].device() != t.device() || bytes + size > bucket_bytes_) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(i);
    bytes += size;
  }
  return out;
}

namespace {
struct PendingReduction : Distributed::Reduction {
  std::vector<torch::Tensor> tensors;
  c10::intrusive_ptr<c10d::Work> work;
  std::string error;  // when starting it failed already
};
}  // namespace

std::unique_ptr<Distributed::Reduction> Distributed::start_all_reduce_sum(
    const torch::Tensor& flat) {
  auto r = std::make_unique<PendingReduction>();
  r->tensors = {flat};
  try {
    r->work = group_->group_for(flat).allreduce(r->tensors);
  } catch (const std::exception& e) {
    r->error = e.what();  // reported by wait(), outside autograd's hooks
  }
  return r;
}

void Distributed::wait(Reduction& reduction, const std::string& what) {
  auto& r = static_cast<PendingReduction&>(reduction);
  if (!r.error.empty()) failed(what, r.error);
  try {
    r.work->wait();
  } catch (const std::exception& e) {
    failed(what, e.what());
  }
}

void Distributed::all_reduce_sum(const std::vector<torch::Tensor>& tensors,
                                 const std::string& what) {
  if (!active() || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  const auto groups = buckets(tensors);
  std::vector<torch::Tensor> flat;
  std::vector<std::unique_ptr<Reduction>> pending;
  for (const auto& bucket : groups) {
    std::vector<torch::Tensor> pieces;
    for (std::size_t i : bucket) pieces.push_back(tensors[i].reshape({-1}));
    flat.push_back(torch::cat(pieces));
    pending.push_back(start_all_reduce_sum(flat.back()));
  }
  for (auto& p : pending) wait(*p, what);
  for (std::size_t b = 0; b < groups.size(); ++b) {
    std::int64_t offset = 0;
    for (std::size_t i : groups[b]) {
      const torch::Tensor& t = tensors[i];
      t.copy_(flat[b].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void Distributed::broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  try {
    for (const auto& t : tensors) {
      // Gloo broadcasts contiguous tensors in place.
      torch::Tensor buffer = t.is_contiguous() ? t : t.contiguous();
      std::vector<torch::Tensor> one{buffer};
      group_->group_for(buffer).broadcast(one)->wait();
      if (!buffer.is_same(t)) t.copy_(buffer);
    }
  } catch (const std::exception& e) {
    failed(what, e.what());
  }
}

std::vector<std::string> Distributed::all_gather(const std::string& mine, const std::string& what) {
  if (!active()) return {mine};
  try {
    // Lengths first, then every rank's bytes padded to the longest.
    std::vector<torch::Tensor> length{torch::tensor({static_cast<std::int64_t>(mine.size())})};
    std::vector<std::vector<torch::Tensor>> lengths(1);
    for (int r = 0; r < world_size_; ++r) lengths[0].push_back(torch::zeros({1}, torch::kInt64));
    group_->pg->allgather(lengths, length)->wait();
    std::int64_t longest = 1;
    for (const auto& l : lengths[0]) longest = std::max(longest, l.item<std::int64_t>());
    torch::Tensor bytes = torch::zeros({longest}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), mine.data(), mine.size());
    std::vector<torch::Tensor> input{bytes};
    std::vector<std::vector<torch::Tensor>> outputs(1);
    for (int r = 0; r < world_size_; ++r)
      outputs[0].push_back(torch::zeros({longest}, torch::kUInt8));
    group_->pg->allgather(outputs, input)->wait();
    std::vector<std::string> out;
    for (int r = 0; r < world_size_; ++r) {
      const auto* data = static_cast<const char*>(outputs[0][r].data_ptr());
      out.emplace_back(data, static_cast<std::size_t>(lengths[0][r].item<std::int64_t>()));
    }
    return out;
  } catch (const std::exception& e) {
    failed(what, e.what());
  }
}

bool Distributed::any(bool mine, const std::string& what) {
  if (!active()) return mine;
  std::vector<torch::Tensor> flag{torch::tensor({mine ? 1 : 0}, torch::kInt32)};
  try {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::MAX;
    group_->pg->allreduce(flag, options)->wait();
  } catch (const std::exception& e) {
    failed(what, e.what());
  }
  return flag[0].item<int>() != 0;
}

void Distributed::barrier(const std::string& what) {
  if (!active()) return;
  try {
    group_->pg->barrier()->wait();
  } catch (const std::exception& e) {
    failed(what, e.what());
  }
}

void Distributed::report_failure(const std::string& message) noexcept {
  if (!group_) return;
  try {
    group_->store->set(failed_key(rank_),
                       std::vector<std::uint8_t>(message.begin(), message.end()));
  } catch (...) {
    // The store is gone too; the others name this rank from its stopped heartbeat.
  }
}

}  // namespace rlhf
