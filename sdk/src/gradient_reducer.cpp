#include "rlhf/gradient_reducer.hpp"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <functional>

#include "rlhf/distributed.hpp"

namespace rlhf {

struct GradientReducer::State {
  Distributed* dist = nullptr;
  std::vector<torch::Tensor> params;  // reverse order of the trainable tensors
  std::vector<std::vector<std::size_t>> buckets;
  std::vector<std::size_t> bucket_of;  // per param
  std::vector<std::size_t> ready_count;
  std::vector<bool> ready;
  std::vector<torch::Tensor> flat;  // per bucket, once started
  std::vector<std::unique_ptr<Distributed::Reduction>> pending;
  std::size_t started = 0;  // buckets 0..started-1 are started
  bool armed = false;
  // The accumulators hold the hooks; kept alive so the hooks stay, removed at the end.
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, std::uintptr_t>> hooks;

  void start(std::size_t b) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> pieces;
    for (std::size_t i : buckets[b]) {
      torch::Tensor& p = params[i];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      pieces.push_back(p.grad().reshape({-1}));
    }
    flat[b] = torch::cat(pieces);
    pending[b] = dist->start_all_reduce_sum(flat[b]);
  }

  // Starts every bucket, in order, whose tensors are all complete.
  void start_ready() {
    while (started < buckets.size() && ready_count[started] == buckets[started].size())
      start(started++);
  }

  void on_gradient(std::size_t i) {
    if (!armed || ready[i]) return;
    ready[i] = true;
    ++ready_count[bucket_of[i]];
    start_ready();
  }
};

namespace {

// Called after a tensor's gradient accumulator ran: its .grad is complete for this backward.
struct AccumulatedHook : torch::autograd::FunctionPostHook {
  std::function<void()> done;
  explicit AccumulatedHook(std::function<void()> f) : done(std::move(f)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    done();
    return outputs;
  }
};

}  // namespace

GradientReducer::GradientReducer(const NamedTensors& trainable, Distributed& dist) {
  if (!dist.active()) return;
  state_ = std::make_shared<State>();
  State& s = *state_;
  s.dist = &dist;
  for (auto it = trainable.rbegin(); it != trainable.rend(); ++it) s.params.push_back(it->second);
  s.buckets = dist.buckets(s.params);
  s.bucket_of.resize(s.params.size());
  for (std::size_t b = 0; b < s.buckets.size(); ++b)
    for (std::size_t i : s.buckets[b]) s.bucket_of[i] = b;
  s.ready_count.assign(s.buckets.size(), 0);
  s.ready.assign(s.params.size(), false);
  s.flat.resize(s.buckets.size());
  s.pending.resize(s.buckets.size());
  for (std::size_t i = 0; i < s.params.size(); ++i) {
    auto accumulator = torch::autograd::impl::grad_accumulator(s.params[i]);
    if (!accumulator) continue;  // not a leaf that requires grad: finish() reduces zeros
    std::weak_ptr<State> weak = state_;
    const auto key = accumulator->add_post_hook(std::make_unique<AccumulatedHook>([weak, i] {
      if (auto state = weak.lock()) state->on_gradient(i);
    }));
    s.hooks.emplace_back(std::move(accumulator), key);
  }
}

GradientReducer::~GradientReducer() {
  if (!state_) return;
  for (auto& [node, key] : state_->hooks) node->del_post_hook(key);
}

void GradientReducer::arm() {
  if (state_) state_->armed = true;
}

std::size_t GradientReducer::bucket_count() const { return state_ ? state_->buckets.size() : 0; }

std::size_t GradientReducer::finish(std::int64_t step) {
  if (!state_) return 0;
  State& s = *state_;
  s.armed = false;
  const std::size_t during_backward = s.started;
  while (s.started < s.buckets.size()) s.start(s.started++);
  const std::string what = "the gradient all-reduce of step " + std::to_string(step);
  for (auto& p : s.pending) s.dist->wait(*p, what);
  torch::NoGradGuard no_grad;
  for (std::size_t b = 0; b < s.buckets.size(); ++b) {
    std::int64_t offset = 0;
    for (std::size_t i : s.buckets[b]) {
      torch::Tensor grad = s.params[i].grad();
      grad.copy_(s.flat[b].narrow(0, offset, grad.numel()).view(grad.sizes()));
      offset += grad.numel();
    }
    s.pending[b].reset();
    s.flat[b] = torch::Tensor();
  }
  s.started = 0;
  s.ready_count.assign(s.buckets.size(), 0);
  s.ready.assign(s.params.size(), false);
  return during_backward;
}

}  // namespace rlhf
