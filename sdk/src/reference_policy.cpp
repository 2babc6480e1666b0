#include "rlhf/reference_policy.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "rlhf/adapter.hpp"
#include "rlhf/batch_pass.hpp"
#include "rlhf/config.hpp"
#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/stage_setup.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/causal_lm_check.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheFile = "reference_logps.safetensors";
const char* split_name(Split split) { return split == Split::train ? "train" : "eval"; }
int slot(Split split) { return split == Split::train ? 0 : 1; }

// For its lifetime the live adapter holds `frozen`'s weights, with dropout off; afterwards (also
// when the forward throws) its own weights come back bit for bit and the stage's training mode.
class FrozenWeightsIn {
 public:
  FrozenWeightsIn(Stage& stage, const std::vector<std::pair<std::string, at::Tensor>>& frozen)
      : stage_(stage), live_(stage.adapter->named_parameters()) {
    for (std::size_t i = 0; i < live_.size(); ++i) {
      saved_.push_back(live_[i].second.detach().clone());
      live_[i].second.detach().copy_(frozen[i].second);
    }
    stage_.adapter->set_training(false);
  }
  ~FrozenWeightsIn() {
    for (std::size_t i = 0; i < live_.size(); ++i) live_[i].second.detach().copy_(saved_[i]);
    stage_.set_training(stage_.is_training());
  }
  FrozenWeightsIn(const FrozenWeightsIn&) = delete;
  FrozenWeightsIn& operator=(const FrozenWeightsIn&) = delete;

 private:
  Stage& stage_;
  std::vector<std::pair<std::string, at::Tensor>> live_;
  std::vector<at::Tensor> saved_;
};

// A frozen copy of `policy` (dense weights only: a full fine-tune has no quantized projection).
std::shared_ptr<CausalLM> frozen_copy(const CausalLM& policy) {
  std::map<std::string, at::Tensor> state;
  for (auto& [name, tensor] : policy.hf_state_dict()) state[name] = tensor;
  std::map<std::string, std::shared_ptr<Linear>> linears;
  for (auto& [name, linear] : policy.named_linears()) linears[name] = linear;
  WeightInit init;
  init.tensor = [&](const std::string& name, const std::vector<std::int64_t>&) {
    return state.at(name).detach().clone();
  };
  init.linear = [&](const std::string& module, std::int64_t,
                    std::int64_t) -> std::shared_ptr<LinearWeight> {
    auto it = linears.find(module);
    const at::Tensor w = it != linears.end() ? it->second->weight()->dense(policy.dtype())
                                             : state.at(module + ".weight");
    return std::make_shared<DenseWeight>(w.detach().clone());
  };
  auto copy = std::make_shared<CausalLM>(policy.config(), policy.dtype(), init);
  copy->eval();
  for (auto& p : copy->parameters()) p.set_requires_grad(false);
  return copy;
}

// Which splits have their reference log-probs precomputed, and why (one log line).
struct PrecomputePlan {
  bool split[2] = {false, false};  // by slot(): train, eval
  std::string why;
  bool any() const { return split[0] || split[1]; }
};

// precompute_ref_log_probs absent ("auto"; docs/algorithms.md, DPO): the reference is frozen in
// every case, so a precomputed value is the live one up to the rounding of another batch shape,
// and precomputing pays for a split whose every row the stage reads at least once — it costs one
// no-grad forward per row, live costs one per row visited. The eval split: every evaluation (at
// least the one at the end, or eval_only's pass) reads every eval row. The train split: when
// the optimizer steps × examples per step (per_device_train_batch_size ×
// gradient_accumulation_steps × data-parallel ranks, as the Trainer counts them) reach every
// train row; a run that visits only part of the split (max_steps = 2 on 10,000 rows) stays live.
// With ctx.config null (a stage composed in code, not by the host) the options are explicit.
PrecomputePlan plan_precompute(const StageContext& ctx, const Stage& stage,
                               const ReferenceOptions& options, const std::size_t sizes[2],
                               bool policy_itself) {
  PrecomputePlan plan;
  const std::size_t train = sizes[0], eval = sizes[1];
  const bool eval_only = stage.training.eval_only;
  auto all = [&](std::string why) {
    plan.split[0] = train > 0;
    plan.split[1] = eval > 0;
    plan.why = std::move(why);
  };
  if (options.reference_free) return plan;
  if (policy_itself && !eval_only) {
    all("no adapter and no ref_model: the reference is the starting policy, which training "
        "changes");
    return plan;
  }
  const bool explicit_key = !ctx.config || ctx.config->has("precompute_ref_log_probs");
  if (explicit_key) {
    if (options.precompute)
      all("precompute_ref_log_probs = true");
    else
      plan.why = "precompute_ref_log_probs = false";
    return plan;
  }
  std::vector<std::string> reasons;
  if (train > 0 && !eval_only) {
    // The Trainer's count: accumulation over every rank's micro-batches.
    TrainingConfig t = stage.training;
    t.gradient_accumulation_steps *= Distributed::get().world_size();
    const std::int64_t steps = t.total_steps(static_cast<std::int64_t>(train));
    const std::int64_t per_step = t.per_device_train_batch_size * t.gradient_accumulation_steps;
    const auto rows = static_cast<std::int64_t>(train);
    plan.split[0] = steps >= (rows + per_step - 1) / per_step;
    const std::string visit =
        std::to_string(steps) + " optimizer steps x " + std::to_string(per_step) + " examples";
    if (plan.split[0])
      reasons.push_back(visit + " read every one of the " + std::to_string(train) + " train rows");
    else
      reasons.push_back(visit + " visit " + std::to_string(steps * per_step) + " of the " +
                        std::to_string(train) +
                        " train rows, so they stay live (precomputing every row would cost more)");
  }
  if (eval > 0) {
    plan.split[1] = true;
    reasons.push_back("every evaluation reads all " + std::to_string(eval) + " eval rows");
  }
  plan.why = "precompute_ref_log_probs not set: ";
  for (std::size_t i = 0; i < reasons.size(); ++i) plan.why += (i ? "; " : "") + reasons[i];
  return plan;
}

std::string split_list(const PrecomputePlan& plan) {
  return plan.split[0] && plan.split[1] ? "train and eval splits"
         : plan.split[0]                ? "train split"
                                        : "eval split";
}

}  // namespace

ReferenceOptions ReferenceOptions::read(const Config& config) {
  ReferenceOptions o;
  o.reference_free = config.get<bool>("reference_free", false);
  o.ref_model = config.get<std::string>("ref_model", "");
  o.ref_adapter = config.get<std::string>("ref_adapter", "");
  o.precompute = config.get<bool>("precompute_ref_log_probs", false);
  if (!o.ref_model.empty() && o.reference_free)
    config.fail("ref_model", "cannot be combined with reference_free = true");
  if (!o.ref_adapter.empty() && o.reference_free)
    config.fail("ref_adapter", "cannot be combined with reference_free = true");
  if (!o.ref_adapter.empty() && !o.ref_model.empty())
    config.fail("ref_adapter", "cannot be combined with ref_model: choose one reference");
  return o;
}

ReferencePolicy::ReferencePolicy(StageContext& ctx, Stage& stage, ReferenceOptions options,
                                 std::size_t train_rows, std::size_t eval_rows,
                                 int rows_per_example, BatchFn batch)
    : ctx_(ctx),
      stage_(stage),
      options_(std::move(options)),
      sizes_{train_rows, eval_rows},
      rows_per_example_(rows_per_example),
      batch_(std::move(batch)) {
  if (options_.reference_free) return;
  if (!options_.ref_model.empty()) {
    LoadOptions load;  // the policy's dtype and device, never quantized
    load.dtype = ctx.dtype;
    load.device = ctx.device;
    ref_model_ = ctx.check_only ? check_causal_lm(options_.ref_model, load)
                                : load_causal_lm(options_.ref_model, load);
    if (ctx.check_only) return;
    ref_model_->eval();
    for (auto& p : ref_model_->parameters()) p.set_requires_grad(false);
  } else if (!options_.ref_adapter.empty()) {
    if (!stage.adapter)
      throw Error("stage '" + ctx.stage_name +
                  "': ref_adapter needs an [adapter] in the pipeline (the reference is that "
                  "adapter with other, frozen weights)");
    auto live = stage.adapter->named_parameters();
    if (options_.ref_adapter == "stage_start") {
      for (const auto& [name, tensor] : live)
        ref_adapter_.emplace_back(name, tensor.detach().clone());
    } else {
      const fs::path file = fs::path(options_.ref_adapter) / "adapter_model.safetensors";
      if (!fs::exists(file))
        throw Error(file.string() + ": no such file (ref_adapter must be a PEFT adapter folder)");
      SafetensorsFile saved(file);
      for (const auto& [name, tensor] : live) {
        if (!saved.contains(name))
          throw Error(file.string() + ": tensor '" + name +
                      "' of the policy's adapter is missing (the reference adapter must have the "
                      "same r and target_modules)");
        const auto& shape = saved.entry(name).shape;
        if (shape != tensor.sizes().vec())
          throw Error(file.string() + ": tensor '" + name + "' has shape " +
                      c10::str(c10::IntArrayRef(shape)) + ", the policy's adapter " +
                      c10::str(tensor.sizes()) + " (same r and target_modules needed)");
        if (!ctx.check_only) ref_adapter_.emplace_back(name, saved.load(name).to(tensor.options()));
      }
    }
    if (ctx.check_only) return;
  } else if (!stage.adapter) {
    use_policy_itself_ = true;
  }
  if (ctx.check_only) return;
  if (use_policy_itself_ && train_rows == 0 && eval_rows == 0 && !stage.training.eval_only) {
    // No rows to precompute (the algorithm generates its own): the reference is a frozen copy.
    ref_model_ = frozen_copy(*stage.model);
    use_policy_itself_ = false;
    frozen_copy_ = true;
    return;
  }
  const bool eval_only = stage.training.eval_only;
  if (use_policy_itself_ && eval_only && ctx.logger)
    ctx.logger->info(
        "[{}] eval_only with no adapter and no ref_model: the reference is the policy itself, so "
        "rewards are 0 and eval_loss is log 2; eval_preference_accuracy compares the policy's "
        "own log-probs (set ref_model or reference_free for rewards)",
        ctx.stage_name);
  const PrecomputePlan plan = plan_precompute(ctx, stage, options_, sizes_, use_policy_itself_);
  const bool every_row = (train_rows == 0 || plan.split[0]) && (eval_rows == 0 || plan.split[1]);
  if (ctx.logger && (train_rows > 0 || eval_rows > 0))
    ctx.logger->info("[{}] reference log-probs: {} ({})", ctx.stage_name,
                     !plan.any() ? std::string("live, one no-grad forward per batch")
                     : every_row
                         ? "precomputed once, up front"
                         : "precomputed for the " + split_list(plan) + ", live for the other",
                     plan.why);
  if (!plan.any()) return;
  stopped_ = !precompute_all();
  if (stopped_ || !every_row || !ref_model_ || frozen_copy_) return;
  // Nothing reads ref_model any more (every row is in the tables; with_reference says so if
  // called): the stage does not keep a second copy of the weights through training.
  ref_model_.reset();
  if (ctx.logger)
    ctx.logger->info("[{}] ref_model released: every row's reference log-probs are precomputed",
                     ctx.stage_name);
}

ReferencePolicy::~ReferencePolicy() = default;

std::string ReferencePolicy::describe() const {
  std::string what = options_.reference_free         ? "none (reference_free)"
                     : frozen_copy_                  ? "a frozen copy of the starting policy"
                     : !options_.ref_model.empty()   ? "ref_model " + options_.ref_model
                     : !options_.ref_adapter.empty() ? "ref_adapter " + options_.ref_adapter
                     : use_policy_itself_            ? "the starting policy"
                                                     : "the policy with its adapter disabled";
  if (!precomputed_) return what;
  const bool train = table_[0].sum.defined() || sizes_[0] == 0;
  const bool eval = table_[1].sum.defined() || sizes_[1] == 0;
  if (train && eval) return what + ", precomputed";
  return what + (train ? ", precomputed for the train split (eval live)"
                       : ", precomputed for the eval split (train live)");
}

void ReferencePolicy::with_reference(const std::function<void(CausalLM& model)>& fn) {
  if (options_.reference_free)
    throw Error("stage '" + ctx_.stage_name + "': reference_free: there is no reference model");
  if (!options_.ref_model.empty() && !ref_model_)
    throw Error("stage '" + ctx_.stage_name +
                "': ref_model was released once every row's reference log-probs were "
                "precomputed: the reference is available only as those log-probs");
  torch::NoGradGuard no_grad;
  if (ref_model_) {
    fn(*ref_model_);
  } else if (!ref_adapter_.empty()) {
    // The frozen weights go into the live adapter for this forward and come back bit for bit.
    // In-place on purpose: callers run the reference before the policy's forward of the step,
    // so no autograd graph holds these tensors yet.
    FrozenWeightsIn frozen(stage_, ref_adapter_);
    fn(*stage_.model);
  } else if (use_policy_itself_ && !precomputed_) {
    // Only the precompute pass may run the policy as its own reference (before it changes).
    fn(*stage_.model);
  } else if (use_policy_itself_) {
    throw Error("stage '" + ctx_.stage_name +
                "': the reference is the starting policy, available only as precomputed "
                "log-probs (no adapter and no ref_model): set ref_model");
  } else {
    AdapterDisabled reference(stage_.adapter);
    fn(*stage_.model);
  }
}

SequenceLogps ReferencePolicy::forward(const Batch& batch) {
  SequenceLogps out;
  with_reference([&](CausalLM& model) {
    out = sequence_logps(completion_logits(model, batch, rows_per_example_));
  });
  return out;
}

SequenceLogps ReferencePolicy::logps(Split split, const std::vector<std::size_t>& indices,
                                     const Batch& batch) {
  if (options_.reference_free) return {};
  if (!table_[slot(split)].sum.defined()) return forward(batch);
  const Table& t = table_[slot(split)];
  std::vector<std::int64_t> idx(indices.begin(), indices.end());
  const at::Tensor i = torch::tensor(idx, torch::kInt64);
  // [P, k] → rows in batch order: slot 0 of every example, then slot 1, …
  auto rows = [&](const at::Tensor& table) {
    return table.index_select(0, i).t().reshape({-1}).to(ctx_.device);
  };
  SequenceLogps out;
  out.sum = rows(t.sum);
  out.mean = rows(t.mean);
  out.tokens = rows(t.tokens);
  return out;
}

bool ReferencePolicy::precompute_all() {
  const fs::path cache = ctx_.stage_dir / kCacheFile;
  const auto k = static_cast<std::int64_t>(rows_per_example_);
  // The constructor's plan again (the same inputs): only its splits are computed and cached.
  const PrecomputePlan plan = plan_precompute(ctx_, stage_, options_, sizes_, use_policy_itself_);
  std::vector<Split> splits;
  for (Split split : {Split::train, Split::eval})
    if (plan.split[slot(split)]) splits.push_back(split);
  if (ctx_.resume && fs::exists(cache)) {
    SafetensorsFile file(cache);
    bool fits = true;
    for (Split split : splits) {
      const std::string name = std::string(split_name(split)) + ".sum";
      const std::vector<std::int64_t> want{static_cast<std::int64_t>(sizes_[slot(split)]), k};
      if (!file.contains(name) || file.entry(name).shape != want) fits = false;
    }
    if (fits) {
      for (Split split : splits) {
        const std::string s = split_name(split);
        table_[slot(split)] = {file.load(s + ".sum"), file.load(s + ".mean"),
                               file.load(s + ".tokens")};
      }
      precomputed_ = true;
      if (ctx_.logger)
        ctx_.logger->info("[{}] --resume: reference log-probs from {}", ctx_.stage_name,
                          cache.string());
      return true;
    }
  }
  const bool was_training = stage_.is_training();
  stage_.set_training(false);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  // Data parallel: rank r computes batches r, r + world size, … into tables of zeros, and the
  // sum over the ranks is every row exactly once (x + 0 is x: the same numbers as one rank).
  Distributed& dist = Distributed::get();
  for (Split split : splits) {
    const std::size_t n = sizes_[slot(split)];
    Table t{torch::zeros({static_cast<std::int64_t>(n), k}),
            torch::zeros({static_cast<std::int64_t>(n), k}),
            torch::zeros({static_cast<std::int64_t>(n), k})};
    std::size_t batch_number = 0;
    bool complete = for_each_batch(
        ctx_, std::string("reference log-probs (") + split_name(split) + ")", n,
        static_cast<std::size_t>(stage_.training.per_device_eval_batch_size),
        [&](const std::vector<std::size_t>& indices) {
          if (dist.active() &&
              static_cast<int>(batch_number++ % static_cast<std::size_t>(dist.world_size())) !=
                  dist.rank())
            return;
          SequenceLogps l = forward(batch_(split, indices));
          std::vector<std::int64_t> idx(indices.begin(), indices.end());
          const at::Tensor i = torch::tensor(idx, torch::kInt64);
          const auto p = static_cast<std::int64_t>(indices.size());
          // Batch rows are slot-major (all chosen rows, then all rejected rows).
          auto put = [&](at::Tensor& table, const at::Tensor& rows) {
            table.index_copy_(0, i,
                              rows.detach().to(torch::kCPU).to(torch::kFloat).reshape({k, p}).t());
          };
          put(t.sum, l.sum);
          put(t.mean, l.mean);
          put(t.tokens, l.tokens);
        });
    if (dist.active()) {
      complete = !dist.any(!complete, "agreeing on a stopped reference pass");
      if (complete)
        dist.all_reduce_sum(
            {t.sum, t.mean, t.tokens},
            std::string("gathering the reference log-probs (") + split_name(split) + ")");
    }
    if (!complete) {
      stage_.set_training(was_training);
      return false;
    }
    const std::string s = split_name(split);
    tensors.emplace_back(s + ".sum", t.sum);
    tensors.emplace_back(s + ".mean", t.mean);
    tensors.emplace_back(s + ".tokens", t.tokens);
    table_[slot(split)] = t;
  }
  stage_.set_training(was_training);
  precomputed_ = true;
  if (!Distributed::get().is_main()) return true;  // data parallel: rank 0 writes the cache
  fs::create_directories(ctx_.stage_dir);
  save_safetensors(cache, tensors, {{"format", "pt"}, {"content", "reference log-probs"}});
  if (ctx_.logger)
    ctx_.logger->info("[{}] precomputed reference log-probs of {} train + {} eval examples ({})",
                      ctx_.stage_name, plan.split[0] ? sizes_[0] : 0, plan.split[1] ? sizes_[1] : 0,
                      cache.string());
  return true;
}

}  // namespace rlhf
