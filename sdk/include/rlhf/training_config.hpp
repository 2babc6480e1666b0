// TrainingConfig — the training keys every algorithm stage shares, under Hugging Face
// TrainingArguments / TRL names so a TRL user's settings carry over unchanged.
//
// An algorithm plugin reads them in its constructor (which declares each key, so a misspelling
// such as `learnig_rate` is reported by the host with a suggestion before any work starts):
//
//   TrainingConfig defaults;                 // HF/TRL defaults
//   defaults.learning_rate = 5e-5;           // an algorithm may change a default
//   training_ = TrainingConfig::read(config, defaults);
//
// Keys and defaults (HF TrainingArguments unless noted):
//   learning_rate = 5e-5            num_train_epochs = 3.0        max_steps = -1 (epochs rule)
//   per_device_train_batch_size = 8 per_device_eval_batch_size = 8
//   gradient_accumulation_steps = 1 lr_scheduler_type = "linear" ("cosine", "constant",
//   "constant_with_warmup")         warmup_ratio = 0.0            warmup_steps = 0 (wins if > 0)
//   max_grad_norm = 1.0 (0 = off)   weight_decay = 0.0            adam_beta1 = 0.9
//   adam_beta2 = 0.999              adam_epsilon = 1e-8 (> 0)     logging_steps = 10
//   eval_steps = 0 (0 = only at the end)  save_steps = 0 (0 = no mid-run checkpoints)
//   save_total_limit = 0 (0 = keep all)   max_length = 1024 (TRL)  max_prompt_length = 512 (TRL)
//   (a max_length at or below the default max_prompt_length halves the prompt budget)
//   truncation_mode = "keep_end" | "keep_start" (TRL: which end of the prompt survives)
//   eval_only = false (evaluate, write eval_predictions.jsonl, no training)
//   gradient_checkpointing = false  disable_dropout = true (TRL)
//   merge_adapter_before = false (rlhf-host: fold the adapter into the base weights and attach
//   a fresh one before the stage starts, so the previous stage's result becomes the base —
//   and with it DPO's reference policy)
// Bounds: every number finite (Config), num_train_epochs ≤ 1e6, batch sizes, accumulation
// steps and lengths ≤ 2^31 − 1, so no step count or index computed from them can overflow.
#pragma once

#include <cstdint>
#include <string>

namespace rlhf {

class Config;

struct TrainingConfig {
  double learning_rate = 5e-5;
  double num_train_epochs = 3.0;
  std::int64_t max_steps = -1;
  std::int64_t per_device_train_batch_size = 8;
  std::int64_t per_device_eval_batch_size = 8;
  std::int64_t gradient_accumulation_steps = 1;
  std::string lr_scheduler_type = "linear";
  double warmup_ratio = 0.0;
  std::int64_t warmup_steps = 0;
  double max_grad_norm = 1.0;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  std::int64_t logging_steps = 10;
  std::int64_t eval_steps = 0;
  std::int64_t save_steps = 0;
  std::int64_t save_total_limit = 0;
  std::int64_t max_length = 1024;
  std::int64_t max_prompt_length = 512;
  std::string truncation_mode = "keep_end";
  bool eval_only = false;
  bool gradient_checkpointing = false;
  bool disable_dropout = true;
  bool merge_adapter_before = false;

  // Reads every key above from `config` (absent keys keep the value in `defaults`) and
  // validates ranges; a bad value throws rlhf::ConfigError located at its key.
  static TrainingConfig read(const Config& config, const TrainingConfig& defaults);
  static TrainingConfig read(const Config& config);  // with the defaults above

  // Optimizer steps of the run for a dataset of `train_examples` examples: max_steps when > 0,
  // else ceil(epochs × steps per epoch) with steps per epoch =
  // ceil(ceil(examples / batch) / gradient_accumulation_steps) (HF Trainer).
  std::int64_t total_steps(std::int64_t train_examples) const;
  // Micro-batches per epoch: ceil(examples / per_device_train_batch_size).
  std::int64_t micro_batches_per_epoch(std::int64_t train_examples) const;
  // warmup_steps when > 0, else ceil(warmup_ratio × total_steps) (HF).
  std::int64_t num_warmup_steps(std::int64_t total) const;
};

}  // namespace rlhf
