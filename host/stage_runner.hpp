// Runs a validated Pipeline: stages in order, each with its folder, logger, metrics and the
// plugins load_pipeline() constructed.
//
// Per run: `output_dir/` is created and locked, with `run.log` (everything the console shows),
// `metrics.jsonl`, a TensorBoard event file and `pipeline.toml` (the resolved pipeline, after
// --set). Per stage: `output_dir/<stage>/` with its `fingerprint.json`, data->load(seed), a
// StageContext, algorithm->run().
//
// The policy (model + tokenizer + adapter) is loaded lazily on a stage's first ctx.model() /
// ctx.tokenizer() call and persists across stages, so `sft` then `dpo` trains on from the SFT
// weights. A stage that overrides `model` or `adapter` starts from a freshly loaded policy,
// which the following stages then continue with.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "pipeline.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/causal_lm.hpp"

namespace spdlog {
class logger;
}

namespace rlhf {
class Tokenizer;
}

namespace rlhf::host {

// How the policy is read from disk (replaceable in tests).
struct PolicyLoader {
  std::function<std::shared_ptr<rlhf::CausalLM>(const std::filesystem::path&,
                                                const rlhf::LoadOptions&)>
      load_model;
  std::function<std::shared_ptr<rlhf::Tokenizer>(const std::filesystem::path&)> load_tokenizer;
};
// rlhf::load_causal_lm and rlhf::Tokenizer::load.
PolicyLoader default_policy_loader();

// The policy the stages share: its spec, and the model and tokenizer made on first use and
// carried to the next stage (a stage with a `model` or `adapter` override starts a fresh one).
struct StagePolicy {
  ModelSpec spec;
  rlhf::Quantizer* quantizer = nullptr;  // [quantizer], or the one the checkpoint needs
  rlhf::Adapter* adapter = nullptr;
  std::filesystem::path adapter_path;  // the PEFT folder the adapter starts from, or empty
  std::shared_ptr<rlhf::CausalLM> model;
  std::shared_ptr<rlhf::Tokenizer> tokenizer;
};

// The StageContext of stage `index`, as both the run and --check (pipeline_check.hpp) build it:
// `policy` is replaced by a fresh one when the stage overrides the model or adapter; ctx.model()
// makes the model with `load_model` on first use and attaches the adapter (loading its PEFT
// folder when it has a `path`: adapter_folder.hpp); ctx.tokenizer() uses
// `load_tokenizer`. The caller adds what only it has (stage folder, metrics, resume, data).
using ModelFactory =
    std::function<std::shared_ptr<rlhf::CausalLM>(const StagePolicy&, const rlhf::LoadOptions&)>;
StageContext stage_context(Pipeline& pipeline, std::size_t index,
                           std::shared_ptr<StagePolicy>& policy,
                           const std::shared_ptr<spdlog::logger>& logger, ModelFactory load_model,
                           const PolicyLoader& loader);

struct RunOptions {
  bool resume = false;     // --resume: continue the results in output_dir
  bool overwrite = false;  // --overwrite: remove them first (run_folder.hpp)
  std::string command;     // the command line, recorded in the run lock for a second run's message
  std::function<bool()> stop_requested = [] { return false; };
  PolicyLoader loader = default_policy_loader();
};

enum class RunResult { completed, stopped };

// Runs every stage; throws rlhf::Error (or what a plugin throws) on failure. Returns `stopped`
// when a stop was requested (the running stage returned early; later stages did not start).
// First it locks output_dir (run_lock.hpp), deals with the results already there
// (run_folder.hpp) and, with --resume, checks every stage's fingerprint (run_fingerprint.hpp).
RunResult run_pipeline(Pipeline& pipeline, const std::shared_ptr<spdlog::logger>& logger,
                       const RunOptions& options = {});

}  // namespace rlhf::host
