#include "stage_runner.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <thread>

#include "adapter_folder.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/logging.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/reward_model.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/tensorboard_runs.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "rlhf/version.hpp"
#include "run_fingerprint.hpp"
#include "run_folder.hpp"
#include "run_lock.hpp"

namespace rlhf::host {

namespace fs = std::filesystem;

namespace {

// With --resume: every stage folder that holds results must have been written by this pipeline
// (same model, adapter/quantizer settings, data and stage keys); otherwise exit 1 saying what
// changed, before any work starts.
void check_resumable(const Pipeline& pipeline, const std::vector<nlohmann::ordered_json>& prints) {
  for (std::size_t i = 0; i < pipeline.stages.size(); ++i) {
    const fs::path stage_dir = pipeline.output_dir / pipeline.stages[i].name;
    if (!stage_has_results(stage_dir)) continue;
    const auto recorded = read_fingerprint(stage_dir);
    if (!recorded)
      throw Error("--resume: " + stage_dir.string() + " holds results but no " + kFingerprintFile +
                  " (written by an older rlhf-host?), so they cannot be checked against this "
                  "pipeline; start anew with --overwrite");
    const auto changes = fingerprint_differences(*recorded, prints[i]);
    if (changes.empty()) continue;
    std::string list;
    for (std::size_t k = 0; k < changes.size() && k < 6; ++k) list += (k ? "; " : "") + changes[k];
    if (changes.size() > 6) list += "; and " + std::to_string(changes.size() - 6) + " more";
    throw Error("--resume: " + stage_dir.string() +
                " was written with other inputs than this pipeline's: " + list +
                " (undo the change, or start anew with --overwrite or another run.output_dir)");
  }
}

}  // namespace

StageContext stage_context(Pipeline& pipeline, std::size_t index,
                           std::shared_ptr<StagePolicy>& policy,
                           const std::shared_ptr<spdlog::logger>& logger, ModelFactory load_model,
                           const PolicyLoader& loader) {
  StagePlan& stage = pipeline.stages[index];
  if (!policy || stage.fresh_policy) {
    policy = std::make_shared<StagePolicy>();
    policy->spec = stage.fresh_policy ? stage.model : pipeline.model;
    policy->adapter = stage.fresh_policy ? stage.adapter.get() : pipeline.adapter.get();
    policy->adapter_path = stage.fresh_policy ? stage.adapter_path : pipeline.adapter_path;
    policy->quantizer = stage.fresh_policy ? stage.quantizer.get() : pipeline.quantizer.get();
  }
  rlhf::Quantizer* quantizer = policy->quantizer;
  const c10::Device device = pipeline.device;
  StageContext ctx;
  ctx.stage_name = stage.name;
  ctx.stage_index = static_cast<int>(index);
  ctx.config = &stage.config;
  ctx.device = device;
  ctx.dtype = policy->spec.dtype;
  ctx.seed = pipeline.seed;
  ctx.stage_dir = pipeline.output_dir / stage.name;
  ctx.logger = logger;
  ctx.chat_template = policy->spec.chat_template;
  ctx.model_path = policy->spec.path;
  ctx.adapter = policy->adapter;
  ctx.quantizer = quantizer;
  ctx.reward_model = stage.reward_model.get();
  ctx.model = [policy, quantizer, device, load_model = std::move(load_model)] {
    if (!policy->model) {
      policy->model = load_model(*policy, rlhf::LoadOptions{policy->spec.dtype, device, quantizer});
      if (policy->adapter) attach_adapter(*policy->adapter, *policy->model, policy->adapter_path);
    }
    return policy->model;
  };
  ctx.tokenizer = [policy, &loader] {
    if (!policy->tokenizer) policy->tokenizer = loader.load_tokenizer(policy->spec.path);
    return policy->tokenizer;
  };
  return ctx;
}

RunResult run_pipeline(Pipeline& pipeline, const std::shared_ptr<spdlog::logger>& logger,
                       const RunOptions& options) {
  // Data parallel (docs/architecture.md, "Data parallel"): run.threads is the machine's, shared
  // by the ranks on it; rank 0 alone owns output_dir (lock, logs, metrics, results) and the
  // others wait for it at a barrier after it prepared the folder and after each stage.
  Distributed& dist = Distributed::get();
  int threads = pipeline.threads > 0
                    ? pipeline.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (dist.active()) threads = std::max(1, threads / dist.local_world_size());
  at::set_num_threads(threads);

  if (options.resume && options.overwrite)
    throw Error("--resume and --overwrite contradict each other: choose one");
  std::vector<nlohmann::ordered_json> fingerprints;  // rank 0's
  std::optional<RunLock> lock;
  std::optional<MetricsSink> metrics;
  if (dist.is_main()) {
    fs::create_directories(pipeline.output_dir);
    lock.emplace(pipeline.output_dir, options.command);
    const auto actions =
        prepare_run_folder(pipeline.output_dir, options.resume      ? ExistingResults::resume
                                                : options.overwrite ? ExistingResults::overwrite
                                                                    : ExistingResults::refuse);
    add_log_file(*logger, pipeline.output_dir);
    logger->info("rlhf-host {} (ABI {}) running {} into {}", RLHF_SDK_VERSION, sdk_abi_tag(),
                 pipeline.file.string(), pipeline.output_dir.string());
    for (const auto& line : actions) logger->info("{}", line);
    for (std::size_t i = 0; i < pipeline.stages.size(); ++i)
      fingerprints.push_back(stage_fingerprint(pipeline, i));
    if (options.resume) check_resumable(pipeline, fingerprints);
    if (dist.active())
      logger->info("data parallel: {} ranks ({} on this machine), {} threads each, timeout {} s",
                   dist.world_size(), dist.local_world_size(), threads, pipeline.dist_timeout_s);
    logger->info("device {}, {} threads, seed {}", pipeline.device.str(), threads, pipeline.seed);
    const std::string resolved = pipeline.resolved_toml();
    logger->info("resolved pipeline:\n{}", resolved);
    write_file_atomically(pipeline.output_dir / "pipeline.toml", resolved + "\n");
    metrics.emplace(pipeline.output_dir);
    metrics->add_writer(std::make_unique<TensorBoardRuns>(pipeline.output_dir));
  }
  dist.barrier("waiting for rank 0 to prepare " + pipeline.output_dir.string());

  std::shared_ptr<StagePolicy> policy;
  const PolicyLoader& loader = options.loader;
  // The run's model factory says what it loads; --check's reads headers only.
  const ModelFactory load_model = [&loader, logger](const StagePolicy& p,
                                                    const rlhf::LoadOptions& load) {
    logger->info("loading model {} ({}{}{}{})", p.spec.path.string(), c10::toString(load.dtype),
                 load.quantizer ? ", quantized" : "", p.adapter ? ", with adapter" : "",
                 p.adapter_path.empty() ? "" : " from " + p.adapter_path.string());
    return loader.load_model(p.spec.path, load);
  };

  for (std::size_t i = 0; i < pipeline.stages.size(); ++i) {
    StagePlan& stage = pipeline.stages[i];
    if (dist.any(options.stop_requested(),
                 "agreeing on a stop before stage '" + stage.name + "'")) {
      logger->warn("stop requested: stage '{}' and later stages not started", stage.name);
      return RunResult::stopped;
    }
    const auto started = std::chrono::steady_clock::now();
    // Every stage starts from torch's generator seeded with run.seed (TRL calls set_seed(seed)
    // in each trainer): adapter initialisation at model load, the fresh adapter of
    // merge_adapter_before and dropout are then the same on every run, and a stage skipped by
    // --resume does not shift the random numbers of the ones after it.
    at::manual_seed(pipeline.seed);
    StageContext ctx = stage_context(pipeline, i, policy, logger, load_model, loader);
    if (dist.is_main()) {
      fs::create_directories(ctx.stage_dir);
      write_fingerprint(ctx.stage_dir, fingerprints[i]);
    }
    ctx.metrics = metrics ? &*metrics : nullptr;
    ctx.resume = options.resume;
    ctx.stop_requested = options.stop_requested;
    if (stage.data) {
      stage.data->load(pipeline.seed);
      ctx.data = stage.data.get();
      logger->info("stage '{}': {} with data '{}' ({} train / {} eval examples)", stage.name,
                   stage.algorithm_name, stage.data_name, stage.data->size(Split::train),
                   stage.data->size(Split::eval));
    } else {
      logger->info("stage '{}': {}", stage.name, stage.algorithm_name);
    }
    if (stage.reward_model) stage.reward_model->setup(ctx);
    stage.algorithm->run(ctx);
    // No rank goes on (to the next stage, or to exit) before rank 0 has written this one's.
    dist.barrier("waiting for rank 0 to finish stage '" + stage.name + "'");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    logger->info("stage '{}' finished in {:.1f} s", stage.name, seconds);
  }
  return dist.any(options.stop_requested(), "agreeing on a stop at the end") ? RunResult::stopped
                                                                             : RunResult::completed;
}

}  // namespace rlhf::host
