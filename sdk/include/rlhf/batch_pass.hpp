// One pass over a split in batches without training — evaluation, reference log-probs, scoring —
// that reports progress and stops on Ctrl-C like a training loop does.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace rlhf {

struct StageContext;

// Calls `fn` with the indices 0..n-1 in consecutive batches of `batch_size`. Progress: a bar
// when stderr is a terminal, else a log line "[stage] <what>: done/n (p%) | ETA" every ~10 s
// and one at the end of a pass that took longer. Between batches, ctx.stop_requested() ends the
// pass: returns false (the caller writes nothing from a partial pass); true when complete.
bool for_each_batch(StageContext& ctx, const std::string& what, std::size_t n,
                    std::size_t batch_size,
                    const std::function<void(const std::vector<std::size_t>& indices)>& fn);

}  // namespace rlhf
