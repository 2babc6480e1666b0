// What every training algorithm does around the Trainer: get the policy ready for the stage,
// say what trains, switch train/eval mode, and save the stage's result.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "rlhf/toolkit/optimizer.hpp"

namespace rlhf {

class CausalLM;
class Adapter;
struct StageContext;
struct TrainingConfig;

// The policy model of the stage. With `merge_adapter_before` and an adapter, the adapter's
// deltas are folded into the base weights (Adapter::merge) and a fresh adapter is attached, so
// the previous stage's result becomes the base model — and DPO's reference policy. Turns on
// gradient checkpointing when asked.
std::shared_ptr<CausalLM> prepare_policy(StageContext& ctx, const TrainingConfig& config);

// Writes the stage result into ctx.stage_dir: `adapter/` (PEFT layout) with an adapter, else
// `model/` (full weights, Hugging Face layout), each with the tokenizer files of ctx.model_path
// and ctx.chat_template (rlhf/tokenizer_files.hpp), then the marker `stage_complete.json`. Returns
// the folder written. The folder is written as `<name>.tmp` and swapped in whole, the marker
// through a temporary file and a rename (rlhf/toolkit/replace_dir.hpp): a kill leaves the previous
// result or the new one. A failed write (e.g. a full disk) throws rlhf::Error naming the file.
std::filesystem::path save_stage_result(StageContext& ctx, CausalLM& model);

// With ctx.resume and a completed stage (its `stage_complete.json` exists): loads the saved
// result into the policy (adapter weights, or every model weight) and returns true, so the
// algorithm skips the stage and `--resume` of a multi-stage pipeline continues where it stopped.
bool restore_completed_stage(StageContext& ctx, CausalLM& model);

// Copies every parameter of `saved` (loaded from `folder`) into the same-named parameter of
// `model`, under no-grad; a name `model` lacks is an rlhf::Error naming the folder.
void copy_parameters(CausalLM& model, CausalLM& saved, const std::filesystem::path& folder);

// Disables the adapter for the life of the guard (the reference policy of DPO-style losses);
// a null adapter makes it a no-op.
class AdapterDisabled {
 public:
  explicit AdapterDisabled(Adapter* adapter);
  ~AdapterDisabled();
  AdapterDisabled(const AdapterDisabled&) = delete;
  AdapterDisabled& operator=(const AdapterDisabled&) = delete;

 private:
  Adapter* adapter_;
  bool was_enabled_ = false;
};

}  // namespace rlhf
