// StageContext — everything the host composed for one pipeline stage, handed to
// Algorithm::run(). Pointers are non-owning and may be null where the pipeline has no such
// part (no adapter, no quantizer, no reward model); the host owns every object and keeps it
// alive for the duration of run().
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace spdlog {
class logger;
}

namespace rlhf {

class Config;
class DataSource;
class Adapter;
class Quantizer;
class RewardModel;
class MetricsSink;
class CausalLM;
class Tokenizer;

struct StageContext {
  std::string stage_name;          // [[stage]] name, unique in the pipeline
  int stage_index = 0;             // 0-based position in the pipeline
  const Config* config = nullptr;  // the stage's table (the algorithm read it at construction)

  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;  // compute dtype of the model ([model].dtype)
  std::uint64_t seed = 0;               // [run].seed
  std::filesystem::path stage_dir;      // [run].output_dir / stage_name (created by the host)

  std::shared_ptr<spdlog::logger> logger;  // console + run.log
  MetricsSink* metrics = nullptr;          // metrics.jsonl (+ TensorBoard)

  DataSource* data = nullptr;  // loaded before run()
  // The policy model and its tokenizer. Loaded lazily by the host on first use, so stages
  // that need no model (none today) pay nothing; with a quantizer the projections are quantized
  // and with an adapter it is attached.
  std::function<std::shared_ptr<CausalLM>()> model;
  std::function<std::shared_ptr<Tokenizer>()> tokenizer;
  std::string chat_template = "none";  // [model].chat_template
  std::filesystem::path model_path;    // [model].path

  Adapter* adapter = nullptr;
  Quantizer* quantizer = nullptr;
  RewardModel* reward_model = nullptr;

  bool resume = false;  // --resume: continue from the newest checkpoint in stage_dir
  // `rlhf-host --check`: Algorithm::check() runs with this set; model() returns the structure
  // without weights and stage_dir does not exist. The stage helpers (stage.hpp) check instead of
  // running, so an algorithm built on them can implement check() as run().
  bool check_only = false;
  // True once SIGINT/SIGTERM arrived: finish the current step, checkpoint, return.
  std::function<bool()> stop_requested = [] { return false; };
};

}  // namespace rlhf
