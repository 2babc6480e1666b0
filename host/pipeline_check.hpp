// `rlhf-host --check`, past what load_pipeline() validates (keys, types, plugins, folders): every
// stage's inputs, the way run_pipeline() would meet them, so a pipeline that passes the check
// does not fail on its inputs later with a message the check could have given.
//
// For each stage, in order and with the policy carried over as the run carries it: the data
// source's load(seed) (every line of every file, the eval split, on_error), then the
// algorithm's check() (algorithm.hpp) with a StageContext composed as for run(): ctx.tokenizer()
// loads the tokenizer with the run's loader, ctx.model() checks the model's files without
// reading weights (check_causal_lm: config.json, the safetensors headers, every tensor's shape
// and dtype) and attaches the adapter to the weightless model it returns (an adapter's target
// modules are checked too). Nothing is written. Reward models are constructed but not set up.
#pragma once

#include <memory>

#include "pipeline.hpp"

namespace spdlog {
class logger;
}

namespace rlhf::host {

// Throws the rlhf::Error the run would throw on the first bad input. Leaves the plugins used (data
// loaded, adapters attached to weightless models): a run starts from a fresh load_pipeline().
void check_pipeline(Pipeline& pipeline, const std::shared_ptr<spdlog::logger>& logger);

}  // namespace rlhf::host
