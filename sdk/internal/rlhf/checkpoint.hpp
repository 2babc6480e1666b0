// Training checkpoints: everything needed to continue a run bit-for-bit on CPU.
//
// Layout of `<stage_dir>/checkpoint-<step>/`:
//   trainer_state.json  {"format": "rlhf-host-checkpoint", "version": 1, "global_step": …,
//                        "epoch": …, "micro_batch": …, "extra": {…}}
//   trainable.pt        the trainable tensors by name (LoRA A/B or the full model), as trained
//   optimizer.pt        AdamW state (step, exp_avg, exp_avg_sq per parameter, param groups)
//   rng.pt              the CPU generator state (dropout draws continue where they stopped)
//   adapter/            with an adapter: the adapter at this step in PEFT's layout
//                       (adapter_config.json + adapter_model.safetensors), so an intermediate
//                       checkpoint loads with PeftModel.from_pretrained like TRL's do
// Data order is a pure function of (seed, epoch), so (epoch, micro_batch) restores it.
//
// A checkpoint is written into `checkpoint-<step>.tmp` and swapped in when complete
// (rlhf/toolkit/replace_dir.hpp), so a crash never leaves a half-written `checkpoint-<step>`; the
// host removes leftover `*.tmp` folders on the next run. A write that fails (e.g. a full disk)
// throws rlhf::Error naming the file and the reason, and removes the temporary folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include "rlhf/toolkit/optimizer.hpp"

namespace rlhf {

// Where the training loop stands between two optimizer steps.
struct TrainerState {
  std::int64_t global_step = 0;                     // optimizer steps done
  std::int64_t epoch = 0;                           // epoch in progress (0-based)
  std::int64_t micro_batch = 0;                     // micro-batches of `epoch` already consumed
  nlohmann::json extra = nlohmann::json::object();  // loop-private state (e.g. logging window)
};

constexpr int kCheckpointVersion = 1;

// Writes `dir` (replaced atomically if it exists; any leftover `dir.tmp` is replaced).
// `write_extra`, if given, adds files to the checkpoint before it is complete: it is called with
// the temporary folder that is renamed to `dir` at the end.
void save_checkpoint(
    const std::filesystem::path& dir, const NamedTensors& trainable,
    const torch::optim::Optimizer& optimizer, const TrainerState& state,
    const std::function<void(const std::filesystem::path& tmp_dir)>& write_extra = {});

// Restores tensors (copied into `trainable` in place, matched by name), optimizer state and the
// CPU RNG; returns the loop state. Missing files, a foreign format/version or a missing or
// mis-shaped tensor throw rlhf::Error naming the checkpoint and the item.
TrainerState load_checkpoint(const std::filesystem::path& dir, const NamedTensors& trainable,
                             torch::optim::Optimizer& optimizer);

// The completed checkpoint with the highest step in `stage_dir`, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& stage_dir);

// Deletes the oldest completed checkpoints so at most `keep` remain (keep 0 = keep all); each is
// renamed to a temporary name before its files go, so none is ever half-deleted.
void prune_checkpoints(const std::filesystem::path& stage_dir, std::int64_t keep);

}  // namespace rlhf
