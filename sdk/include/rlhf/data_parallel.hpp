// The ranks of a data-parallel run as an algorithm plugin sees them (rlhf-host --nproc N, or
// torchrun's environment; docs/architecture.md, "Data parallel"). A plugin built on the Trainer
// and the stage helpers needs none of this; one that makes data of its own (PPO's rollouts)
// shares the work out by rank() and gathers the results with these collectives.
//
// On one rank (no --nproc, WORLD_SIZE unset or 1) rank() is 0, world_size() is 1 and every
// collective returns its input unchanged, so a plugin runs one code path. A collective must be
// called by every rank, in the same order; when another rank died, threw or timed out it throws
// rlhf::Error naming it and `what`. Only rank 0 writes the run's files: a plugin writing a file of
// its own writes it when is_main().
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace rlhf::data_parallel {

int rank();        // 0 … world_size() − 1
int world_size();  // 1 without data parallelism
bool is_main();    // rank() == 0

// Every rank's `mine`, indexed by rank. `what` names the operation in an error.
std::vector<std::string> all_gather(const std::string& mine, const std::string& what);
// Sums each CPU tensor over the ranks, in place.
void all_reduce_sum(const std::vector<torch::Tensor>& tensors, const std::string& what);
// True on every rank when `mine` is true on any (e.g. a pass stopped by Ctrl-C on one rank).
bool any(bool mine, const std::string& what);

}  // namespace rlhf::data_parallel
