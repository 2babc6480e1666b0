#include "rlhf/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "rlhf/distributed.hpp"

namespace rlhf {

Progress::Progress(std::string label, std::int64_t total, std::int64_t start)
    : Progress(std::move(label), total, start,
               ::isatty(STDERR_FILENO) != 0 && Distributed::get().is_main()) {}

Progress::Progress(std::string label, std::int64_t total, std::int64_t start, bool interactive)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      done_(start),
      interactive_(interactive),
      began_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { clear(); }

void Progress::step(std::int64_t tokens, double loss) {
  ++done_;
  tokens_ += tokens;
  last_loss_ = loss;
  if (interactive_) draw();
}

std::string Progress::format_duration(double seconds) {
  auto s = static_cast<long long>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

std::string Progress::status() const {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
  std::int64_t steps_here = done_ - start_;
  double tok_s = elapsed > 0 ? static_cast<double>(tokens_) / elapsed : 0.0;
  std::string eta = "?";
  if (steps_here > 0)
    eta = format_duration(elapsed / static_cast<double>(steps_here) *
                          static_cast<double>(total_ - done_));
  char buf[160];
  std::snprintf(buf, sizeof buf, "step %lld/%lld (%d%%) | %.0f tok/s | ETA %s",
                static_cast<long long>(done_), static_cast<long long>(total_),
                total_ > 0 ? static_cast<int>(100 * done_ / total_) : 100, tok_s, eta.c_str());
  return buf;
}

void Progress::draw() {
  constexpr int kWidth = 24;
  int filled = total_ > 0 ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %s | loss %.4f", label_.c_str(), bar.c_str(),
               status().c_str(), last_loss_);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace rlhf
