#include "rlhf/training_config.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "rlhf/config.hpp"
#include "rlhf/error.hpp"

namespace rlhf {

namespace {

// "1e-08", "3", "0.5": the value as the user would write it (std::to_string prints 0.000000).
std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void require_positive(const Config& config, const std::string& key, double value) {
  if (!(value > 0)) config.fail(key, "must be > 0, got " + number(value));
}

void require_non_negative(const Config& config, const std::string& key, double value) {
  if (value < 0) config.fail(key, "must be >= 0, got " + number(value));
}

// Sizes and counts become tensor dimensions and loop bounds multiplied with one another: a
// bound far above any real run keeps that arithmetic free of overflow.
constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();
// num_train_epochs × steps per epoch must fit the step counter for any dataset below ~10^12
// examples; no run trains a million epochs.
constexpr double kMaxEpochs = 1e6;

void require_at_most(const Config& config, const std::string& key, std::int64_t value,
                     std::int64_t limit) {
  if (value > limit)
    config.fail(key, "must be at most " + std::to_string(limit) + ", got " + std::to_string(value));
}

void require_one_of(const Config& config, const std::string& key, const std::string& value,
                    const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + ("\"" + a + "\"");
  std::string hint = closest_match(value, allowed);
  config.fail(key, "unknown value \"" + value + "\"; expected one of " + list +
                       (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)"));
}

}  // namespace

TrainingConfig TrainingConfig::read(const Config& config, const TrainingConfig& d) {
  TrainingConfig t;
  t.learning_rate = config.get<double>("learning_rate", d.learning_rate);
  t.num_train_epochs = config.get<double>("num_train_epochs", d.num_train_epochs);
  t.max_steps = config.get<std::int64_t>("max_steps", d.max_steps);
  t.per_device_train_batch_size =
      config.get<std::int64_t>("per_device_train_batch_size", d.per_device_train_batch_size);
  t.per_device_eval_batch_size =
      config.get<std::int64_t>("per_device_eval_batch_size", d.per_device_eval_batch_size);
  t.gradient_accumulation_steps =
      config.get<std::int64_t>("gradient_accumulation_steps", d.gradient_accumulation_steps);
  t.lr_scheduler_type = config.get<std::string>("lr_scheduler_type", d.lr_scheduler_type);
  t.warmup_ratio = config.get<double>("warmup_ratio", d.warmup_ratio);
  t.warmup_steps = config.get<std::int64_t>("warmup_steps", d.warmup_steps);
  t.max_grad_norm = config.get<double>("max_grad_norm", d.max_grad_norm);
  t.weight_decay = config.get<double>("weight_decay", d.weight_decay);
  t.adam_beta1 = config.get<double>("adam_beta1", d.adam_beta1);
  t.adam_beta2 = config.get<double>("adam_beta2", d.adam_beta2);
  t.adam_epsilon = config.get<double>("adam_epsilon", d.adam_epsilon);
  t.logging_steps = config.get<std::int64_t>("logging_steps", d.logging_steps);
  t.eval_steps = config.get<std::int64_t>("eval_steps", d.eval_steps);
  t.save_steps = config.get<std::int64_t>("save_steps", d.save_steps);
  t.save_total_limit = config.get<std::int64_t>("save_total_limit", d.save_total_limit);
  t.max_length = config.get<std::int64_t>("max_length", d.max_length);
  t.max_prompt_length = config.get<std::int64_t>("max_prompt_length", d.max_prompt_length);
  t.truncation_mode = config.get<std::string>("truncation_mode", d.truncation_mode);
  t.eval_only = config.get<bool>("eval_only", d.eval_only);
  t.gradient_checkpointing = config.get<bool>("gradient_checkpointing", d.gradient_checkpointing);
  t.disable_dropout = config.get<bool>("disable_dropout", d.disable_dropout);
  t.merge_adapter_before = config.get<bool>("merge_adapter_before", d.merge_adapter_before);

  // Non-finite values never get here: Config refuses nan and inf for every key.
  require_non_negative(config, "learning_rate", t.learning_rate);
  if (t.max_steps <= 0) require_positive(config, "num_train_epochs", t.num_train_epochs);
  if (t.num_train_epochs > kMaxEpochs)
    config.fail("num_train_epochs", "must be at most 1e6, got " + number(t.num_train_epochs));
  for (const auto& [key, value] :
       {std::pair<const char*, std::int64_t>{"per_device_train_batch_size",
                                             t.per_device_train_batch_size},
        {"per_device_eval_batch_size", t.per_device_eval_batch_size},
        {"gradient_accumulation_steps", t.gradient_accumulation_steps},
        {"max_length", t.max_length},
        {"max_prompt_length", t.max_prompt_length}})
    require_at_most(config, key, value, kMaxCount);
  require_positive(config, "per_device_train_batch_size",
                   static_cast<double>(t.per_device_train_batch_size));
  require_positive(config, "per_device_eval_batch_size",
                   static_cast<double>(t.per_device_eval_batch_size));
  require_positive(config, "gradient_accumulation_steps",
                   static_cast<double>(t.gradient_accumulation_steps));
  require_one_of(config, "lr_scheduler_type", t.lr_scheduler_type,
                 {"linear", "cosine", "constant", "constant_with_warmup"});
  if (t.warmup_ratio < 0 || t.warmup_ratio > 1)
    config.fail("warmup_ratio", "must be in [0, 1], got " + number(t.warmup_ratio));
  require_non_negative(config, "warmup_steps", static_cast<double>(t.warmup_steps));
  require_non_negative(config, "max_grad_norm", t.max_grad_norm);
  require_non_negative(config, "weight_decay", t.weight_decay);
  if (t.adam_beta1 < 0 || t.adam_beta1 >= 1) config.fail("adam_beta1", "must be in [0, 1)");
  if (t.adam_beta2 < 0 || t.adam_beta2 >= 1) config.fail("adam_beta2", "must be in [0, 1)");
  // AdamW divides by sqrt(v) + epsilon; with epsilon 0 every parameter whose gradient is zero
  // (unseen embedding rows, LoRA's A at the first step) becomes 0/0 = NaN.
  require_positive(config, "adam_epsilon", t.adam_epsilon);
  require_positive(config, "logging_steps", static_cast<double>(t.logging_steps));
  require_non_negative(config, "eval_steps", static_cast<double>(t.eval_steps));
  require_non_negative(config, "save_steps", static_cast<double>(t.save_steps));
  require_non_negative(config, "save_total_limit", static_cast<double>(t.save_total_limit));
  require_positive(config, "max_length", static_cast<double>(t.max_length));
  require_positive(config, "max_prompt_length", static_cast<double>(t.max_prompt_length));
  // A max_length set below the default prompt budget (e.g. max_length = 128 alone) halves the
  // budget instead of failing: only an explicit max_prompt_length ≥ max_length is an error.
  if (t.max_prompt_length >= t.max_length &&
      !config.get_optional<std::int64_t>("max_prompt_length"))
    t.max_prompt_length = std::max<std::int64_t>(1, t.max_length / 2);
  if (t.max_prompt_length >= t.max_length)
    config.fail("max_prompt_length", "must be smaller than max_length (" +
                                         std::to_string(t.max_length) +
                                         ") so the completion keeps at least one token");
  require_one_of(config, "truncation_mode", t.truncation_mode, {"keep_end", "keep_start"});
  return t;
}

TrainingConfig TrainingConfig::read(const Config& config) { return read(config, TrainingConfig()); }

std::int64_t TrainingConfig::micro_batches_per_epoch(std::int64_t train_examples) const {
  return (train_examples + per_device_train_batch_size - 1) / per_device_train_batch_size;
}

std::int64_t TrainingConfig::total_steps(std::int64_t train_examples) const {
  if (max_steps > 0) return max_steps;
  std::int64_t micro = micro_batches_per_epoch(train_examples);
  std::int64_t per_epoch = std::max<std::int64_t>(
      1, (micro + gradient_accumulation_steps - 1) / gradient_accumulation_steps);
  const double steps = std::ceil(num_train_epochs * static_cast<double>(per_epoch));
  // read() bounds the epochs; a TrainingConfig built in code is checked here, never wrapped.
  if (!(steps >= 1 && steps < 0x1p62))
    throw Error("'num_train_epochs' = " + number(num_train_epochs) + " with " +
                std::to_string(per_epoch) + " optimizer steps per epoch gives " + number(steps) +
                " steps: must be a positive number of steps below 2^62");
  return static_cast<std::int64_t>(steps);
}

std::int64_t TrainingConfig::num_warmup_steps(std::int64_t total) const {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<std::int64_t>(std::ceil(warmup_ratio * static_cast<double>(total)));
}

}  // namespace rlhf
