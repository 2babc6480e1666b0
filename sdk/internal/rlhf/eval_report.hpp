// Reporting helpers of the `eval_only` mode (finish_stage() in stage.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "rlhf/trainer.hpp"  // Metrics

namespace rlhf {

struct StageContext;

// Writes one JSON object per line to `path` through `path.tmp` + rename, so a reader never
// sees a half-written file.
void write_jsonl(const std::filesystem::path& path, const std::vector<std::string>& lines);

// Sends `values` to ctx.metrics at `step` and prints them on one console line after `what`.
void report_metrics(StageContext& ctx, std::int64_t step, const Metrics& values,
                    const std::string& what);

}  // namespace rlhf
