// `rlhf-host --nproc N PIPELINE.toml`: N data-parallel ranks on this machine, started the way
// torchrun starts them (docs/architecture.md, "Data parallel").
//
// The launcher hosts the rendezvous store (c10d TCPStore on a free port of 127.0.0.1) and starts
// N copies of this program with the same arguments but --nproc, each with torchrun's environment
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
// TORCHELASTIC_USE_AGENT_STORE=True). The ranks share run.threads (host/stage_runner.cpp). SIGINT
// and SIGTERM are passed on to every rank (which checkpoint and stop together); a rank dies with
// the launcher (PR_SET_PDEATHSIG).
//
// When a rank fails (exits non-zero or is killed) the others notice at their next collective and
// exit on their own, naming it; those still running after min(timeout, 30 s) + 10 s are killed.
// The launcher then throws rlhf::Error naming the rank that failed first and how. Returns 0 when
// every rank finished, 130 when they stopped on a signal.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace rlhf::host {

int launch_local_ranks(int nproc, const std::vector<std::string>& args,
                       std::chrono::seconds timeout, spdlog::logger& logger);

}  // namespace rlhf::host
