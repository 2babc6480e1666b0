#include "rlhf/finite.hpp"

#include <torch/torch.h>

#include <algorithm>

namespace rlhf {

namespace {

// Values per slice: 16M floats is 64 MB of input and 16 MB of mask at most.
constexpr std::int64_t kSlice = std::int64_t{1} << 24;

// Calls `f(slice)` on consecutive slices of the flattened tensor until it returns false.
template <typename F>
void for_each_slice(const at::Tensor& t, F&& f) {
  const at::Tensor flat = t.detach().reshape({-1});
  const std::int64_t n = flat.numel();
  for (std::int64_t begin = 0; begin < n; begin += kSlice)
    if (!f(flat.narrow(0, begin, std::min(kSlice, n - begin)))) return;
}

}  // namespace

bool all_finite(const at::Tensor& t) {
  if (!t.defined() || !t.is_floating_point()) return true;
  bool ok = true;
  for_each_slice(t, [&](const at::Tensor& slice) {
    ok = torch::isfinite(slice).all().item<bool>();
    return ok;
  });
  return ok;
}

std::int64_t count_non_finite(const at::Tensor& t) {
  if (!t.defined() || !t.is_floating_point()) return 0;
  std::int64_t bad = 0;
  for_each_slice(t, [&](const at::Tensor& slice) {
    bad += slice.numel() - torch::isfinite(slice).sum().item<std::int64_t>();
    return true;
  });
  return bad;
}

}  // namespace rlhf
