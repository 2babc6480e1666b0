// The "jsonl" data source: one JSON record per line, in any format jsonl_record.hpp reads.
//
//   data = { plugin = "jsonl", path = "examples/data/prefs.jsonl",
//            eval_fraction = 0.1,      # or eval_path = "…" (a separate file)
//            sample_ratio = 1.0,       # 0 < r ≤ 1: keep round(r·n) records (at least 1), seeded
//            on_error = "error" }      # or "skip": skip malformed lines, count them in the log
//
// Order of operations, all driven by the run seed so a pipeline sees the same split every time:
// read every line (blank lines ignored) → sample_ratio → eval split (the eval part is
// ceil(eval_fraction·n) records chosen by a seeded shuffle; both parts keep file order).
// Errors name `file:line` and the field: "prefs.jsonl:7: field 'chosen[0].role': missing".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "rlhf/data_source.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::jsonl {

class JsonlSource : public DataSource {
 public:
  explicit JsonlSource(const Config& config);

  void load(std::uint64_t seed) override;
  std::size_t size(Split split = Split::train) const override;
  Example at(std::size_t index, Split split = Split::train) const override;

  // Lines skipped with on_error = "skip" (train and eval files together).
  std::size_t skipped() const { return skipped_; }

 private:
  std::vector<Example> read_file(const std::filesystem::path& path);

  std::filesystem::path path_;
  std::filesystem::path eval_path_;
  double eval_fraction_ = 0.0;
  double sample_ratio_ = 1.0;
  bool skip_errors_ = false;
  std::size_t skipped_ = 0;
  std::vector<Example> train_, eval_;
};

}  // namespace rlhf::jsonl
