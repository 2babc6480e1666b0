// The "jsonl" data source: one JSON record per line, in any layout jsonl_record.hpp reads
// (one example line each in docs/data-formats.md).
//
//   data = { plugin = "jsonl", path = "examples/data/prefs.jsonl",
//            eval_fraction = 0.1,      # or eval_path = "…" (a separate file)
//            sample_ratio = 1.0,       # 0 < r ≤ 1: keep round(r·n) records (at least 1), seeded
//            on_error = "error",       # or "skip": skip malformed lines, count them in the log
//            columns = { prompt = "question" } }   # field names per role (jsonl_columns.hpp)
//
// Several datasets in one stage (instead of `path`), as alignment-handbook's
// `dataset_mixer: {name: fraction}`:
//
//   [stage.data]
//   plugin = "jsonl"
//   eval_fraction = 0.05                  # top-level keys are every dataset's defaults
//   [[stage.data.datasets]]
//   path = "ultrafeedback.jsonl"          # fraction = 1.0: every row
//   [[stage.data.datasets]]
//   path = "my_prefs.jsonl"
//   fraction = 0.3                        # round(0.3·n) rows of this file (at least 1), seeded
//   columns = { prompt = "question", chosen = "good", rejected = "bad" }
//   eval_path = "my_prefs_eval.jsonl"     # this dataset's eval rows come from a file instead
//
// A dataset entry takes path (required), fraction (0 < f ≤ 1, default 1), and its own
// columns, eval_fraction or eval_path, on_error; where it gives none, the top-level columns,
// eval_fraction and on_error apply. A top-level sample_ratio scales every fraction (a quick run
// on 5% of the same mix); a top-level eval_path is one more eval file for the whole mix (with
// `datasets`, it may go with a top-level eval_fraction, every dataset's default).
// Why fractions and not interleave_datasets' sampling probabilities: a fraction says exactly
// how many rows of each file train (the log prints them), a file never repeats or runs dry, and
// the result does not depend on a stopping rule; the trainer shuffles the rows every epoch
// anyway, so mixing only has to choose them. Unlike the handbook (first int(f·n) rows), the rows
// are a seeded random subset, as sample_ratio takes them.
//
// Order of operations, all driven by the run seed so a pipeline sees the same data every time,
// for each dataset on its own: read every line (blank lines ignored) → keep round(fraction ·
// sample_ratio · n) rows → eval split (the eval part is ceil(eval_fraction·n) of those rows,
// chosen by a seeded shuffle; both parts keep file order). The train split is the datasets' train
// parts one after another, in the order given; the eval split likewise, then the top-level
// eval_path file. Every row keeps `source` = "file:line" of its own file.
// Errors name `file:line` and the field: "prefs.jsonl:7: field 'chosen[0].role': missing", and
// table keys by their path: "'stage.dpo.data.datasets[1].fraction': must be in (0, 1]".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "jsonl_columns.hpp"
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

  // Lines skipped with on_error = "skip" (every train and eval file together).
  std::size_t skipped() const { return skipped_; }

  // One file of the data and how it is read.
  struct Dataset {
    std::filesystem::path path;
    double keep = 1.0;  // fraction · sample_ratio
    double eval_fraction = 0.0;
    std::filesystem::path eval_path;  // this dataset's own eval file, or empty
    Columns columns;
    bool skip_errors = false;
  };

 private:
  std::vector<Example> read(const std::filesystem::path& path, const Columns& columns,
                            bool skip_errors);

  std::vector<Dataset> datasets_;
  bool mixed_ = false;               // given as `datasets` (logs what each contributed)
  std::filesystem::path eval_path_;  // the top-level eval file with `datasets`, or empty
  Columns columns_;                  // the top-level columns, for eval_path_
  bool skip_errors_ = false;         // the top-level on_error, for eval_path_
  std::size_t skipped_ = 0;
  std::vector<Example> train_, eval_;
};

}  // namespace rlhf::jsonl
