#include "rlhf/batch_pass.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "rlhf/progress.hpp"
#include "rlhf/stage_context.hpp"

namespace rlhf {

bool for_each_batch(StageContext& ctx, const std::string& what, std::size_t n,
                    std::size_t batch_size,
                    const std::function<void(const std::vector<std::size_t>& indices)>& fn) {
  using Clock = std::chrono::steady_clock;
  const std::size_t batch = std::max<std::size_t>(1, batch_size);
  const auto batches = static_cast<std::int64_t>((n + batch - 1) / batch);
  Progress bar(ctx.stage_name + " " + what, batches, 0);
  const auto began = Clock::now();
  auto last_line = began;
  auto log_line = [&](std::size_t done) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - began).count();
    const double eta =
        done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(n - done) : 0.0;
    if (ctx.logger)
      ctx.logger->info("[{}] {}: {}/{} ({}%) | {} | ETA {}", ctx.stage_name, what, done, n,
                       n ? 100 * done / n : 100, Progress::format_duration(elapsed),
                       Progress::format_duration(eta));
  };
  for (std::size_t begin = 0; begin < n; begin += batch) {
    if (ctx.stop_requested()) {
      bar.clear();
      if (ctx.logger)
        ctx.logger->warn("[{}] {}: stopped after {}/{}; nothing written from this pass",
                         ctx.stage_name, what, begin, n);
      return false;
    }
    std::vector<std::size_t> indices;
    for (std::size_t i = begin; i < std::min(n, begin + batch); ++i) indices.push_back(i);
    fn(indices);
    bar.step(static_cast<std::int64_t>(indices.size()), 0.0);
    if (!bar.interactive() && Clock::now() - last_line > std::chrono::seconds(10)) {
      last_line = Clock::now();
      log_line(begin + indices.size());
    }
  }
  bar.clear();
  if (!bar.interactive() && last_line != began) log_line(n);
  return true;
}

}  // namespace rlhf
