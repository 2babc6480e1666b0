// ReferencePolicy — π_ref of the KL-regularised losses (DPO, KTO, PPO's KL penalty): the log-probs
// the policy is compared against, from whichever source the stage's keys name (TRL's names):
//
//   reference_free = true        no reference (its log-probs count as 0)
//   ref_model = "DIR"            a separate model, loaded in the policy's dtype/device, frozen
//   ref_adapter = "stage_start"  the policy's adapter as the stage starts, frozen (TRL's
//                                ref_adapter_name: SFT → DPO stays QLoRA, the NF4 base untouched)
//   ref_adapter = "DIR"          a PEFT adapter folder (same r / target_modules as the policy's)
//   (none of these)              the policy with its adapter disabled; with no adapter the policy
//                                itself, frozen by precomputing before it changes — or, for an
//                                algorithm with no fixed rows (PPO generates its own), by a
//                                frozen copy of the starting policy (TRL's ref_policy)
//   precompute_ref_log_probs = true   every row's reference log-probs are computed once before
//                                training, cached in <stage_dir>/reference_logps.safetensors so a
//                                --resume reuses them, and looked up by row index afterwards
//   precompute_ref_log_probs = false  live: one no-grad reference forward per batch (TRL's
//                                default; without adapter and ref_model training still
//                                precomputes, the policy being the reference)
//   (the key absent from ctx.config)  precomputed per split where every row is read at least
//                                once: the eval split when it has rows (every evaluation reads
//                                all), the train split when the optimizer steps × examples per
//                                step reach all its rows; else live (docs/algorithms.md, DPO).
//                                With every row precomputed, ref_model's weights are released.
//                                With ctx.config null (a stage built in code) the options are
//                                taken as explicit.
//
// The algorithm describes its rows once (how many splits, how to batch them); the reference then
// answers `logps(split, indices, batch)` for the same batch the policy saw, live or from the cache.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/data_source.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf {

class CausalLM;
class Config;
struct Stage;
struct StageContext;

struct ReferenceOptions {
  bool reference_free = false;
  std::string ref_model;    // a model folder, or empty
  std::string ref_adapter;  // "stage_start", a PEFT folder, or empty
  bool precompute = false;  // precompute_ref_log_probs = true (false: false or absent)

  // Reads reference_free, ref_model, ref_adapter and precompute_ref_log_probs (false when absent;
  // ReferencePolicy tells absent from false by ctx.config) and rejects contradictions (ref_model
  // with ref_adapter, either with reference_free), naming the key.
  static ReferenceOptions read(const Config& config);
};

class ReferencePolicy {
 public:
  // The padded batch of `indices` of a split's rows, as the algorithm's step builds it.
  using BatchFn = std::function<Batch(Split split, const std::vector<std::size_t>& indices)>;

  // `train_rows` / `eval_rows`: the number of examples of each split the stage will index; each
  // example's batch has `rows_per_example` rows (2 for a chosen/rejected pair: chosen rows first,
  // then rejected). Loads ref_model / ref_adapter; with ctx.check_only only checks their files.
  // Precomputes now when asked, when the key is absent and the rows are all read (see above), or
  // when nothing else can serve as reference; logs which and why; returns with stopped() true if
  // Ctrl-C interrupted that.
  ReferencePolicy(StageContext& ctx, Stage& stage, ReferenceOptions options, std::size_t train_rows,
                  std::size_t eval_rows, int rows_per_example, BatchFn batch);
  ~ReferencePolicy();
  ReferencePolicy(const ReferencePolicy&) = delete;
  ReferencePolicy& operator=(const ReferencePolicy&) = delete;

  bool is_reference_free() const { return options_.reference_free; }
  bool stopped() const { return stopped_; }
  // Which source serves the log-probs, for logs: "none", "ref_model …", "the policy with its
  // adapter disabled", …, plus ", precomputed".
  std::string describe() const;

  // Reference log-probs (sum, mean, tokens; no grad) of `batch` = batch(split, indices):
  // looked up when precomputed, else one forward. Undefined tensors when reference-free.
  SequenceLogps logps(Split split, const std::vector<std::size_t>& indices, const Batch& batch);

  // Runs `fn` under no-grad with the reference as a model: ref_model, or the policy's model with
  // the frozen reference adapter swapped in (dropout off) or its adapter disabled; afterwards the
  // policy is as it was. For per-token reference terms (PPO's KL penalty). Call it before the
  // policy's own forward of a step (a swapped-in adapter is written in place). Throws when the
  // reference is precomputed-only (no adapter, no ref_model; or ref_model released once every
  // row was precomputed) or reference_free.
  void with_reference(const std::function<void(CausalLM& model)>& fn);

 private:
  SequenceLogps forward(const Batch& batch);
  bool precompute_all();

  StageContext& ctx_;
  Stage& stage_;
  ReferenceOptions options_;
  std::size_t sizes_[2];
  int rows_per_example_;
  BatchFn batch_;
  std::shared_ptr<CausalLM> ref_model_;
  std::vector<std::pair<std::string, at::Tensor>> ref_adapter_;  // frozen adapter weights
  bool use_policy_itself_ = false;  // no adapter, no ref_model: the (frozen) starting policy
  bool frozen_copy_ = false;        // ref_model_ is a frozen copy of the starting policy
  bool precomputed_ = false;
  bool stopped_ = false;
  // Precomputed: per split, [examples, rows_per_example] sums / means / tokens.
  struct Table {
    at::Tensor sum, mean, tokens;
  };
  Table table_[2];
};

}  // namespace rlhf
