#include "jsonl_source.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "jsonl_file.hpp"
#include "rlhf/config.hpp"

namespace rlhf::jsonl {

namespace {

// Seeded Fisher–Yates over 0..n-1; `purpose` separates the sampling and split streams (and the
// datasets of a mix).
std::vector<std::size_t> seeded_order(std::size_t n, std::uint64_t seed, std::uint64_t purpose) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull ^ purpose);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

// The stream of dataset `index` for `purpose`; dataset 0 keeps the single-file stream.
std::uint64_t stream(std::uint64_t purpose, std::size_t index) {
  return purpose ^ (static_cast<std::uint64_t>(index) * 0xD1B54A32D192ED03ull);
}

// The records at the first `count` positions of `order`, and the rest, both in file order.
void split_by_order(std::vector<Example>& all, const std::vector<std::size_t>& order,
                    std::size_t count, std::vector<Example>& first, std::vector<Example>& rest) {
  std::vector<bool> in_first(all.size(), false);
  for (std::size_t i = 0; i < count; ++i) in_first[order[i]] = true;
  for (std::size_t i = 0; i < all.size(); ++i)
    (in_first[i] ? first : rest).push_back(std::move(all[i]));
}

// A data file must be a regular file: a folder cannot be read line by line, and a pipe or
// device would be consumed by `rlhf-host --check` before the run reads it.
void check_data_file(const Config& config, const std::string& key,
                     const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) config.fail(key, "file not found: " + path.string());
  if (std::filesystem::is_directory(status))
    config.fail(key, "'" + path.string() + "' is a folder, not a JSONL file");
  if (!std::filesystem::is_regular_file(status))
    config.fail(key, "'" + path.string() + "' is not a regular file");
}

bool read_on_error(const Config& config, bool fallback) {
  const std::string on_error = config.get<std::string>("on_error", fallback ? "skip" : "error");
  if (on_error != "error" && on_error != "skip")
    config.fail("on_error", "expected \"error\" or \"skip\", got \"" + on_error + "\"");
  return on_error == "skip";
}

double read_eval_fraction(const Config& config, double fallback) {
  const double f = config.get<double>("eval_fraction", fallback);
  if (f < 0 || f >= 1) config.fail("eval_fraction", "must be in [0, 1), got " + std::to_string(f));
  return f;
}

std::string show(double x) {
  std::string s = std::to_string(x);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

JsonlSource::JsonlSource(const Config& config) {
  const double eval_fraction = read_eval_fraction(config, 0.0);
  const double sample_ratio = config.get<double>("sample_ratio", 1.0);
  if (!(sample_ratio > 0 && sample_ratio <= 1))
    config.fail("sample_ratio", "must be in (0, 1], got " + std::to_string(sample_ratio));
  skip_errors_ = read_on_error(config, false);
  columns_ = read_columns(config);
  const std::string eval_path = config.get<std::string>("eval_path", "");
  if (!eval_path.empty()) check_data_file(config, "eval_path", eval_path);

  if (!config.has("datasets")) {
    if (!eval_path.empty() && eval_fraction > 0)
      config.fail("eval_fraction", "give either eval_fraction or eval_path, not both");
    Dataset d;
    d.path = config.require<std::string>("path");
    d.keep = sample_ratio;
    d.eval_fraction = eval_fraction;
    d.eval_path = eval_path;
    d.columns = columns_;
    d.skip_errors = skip_errors_;
    check_data_file(config, "path", d.path);
    datasets_.push_back(std::move(d));
    return;
  }
  if (config.has("path"))
    config.fail("path", "give either path (one file) or datasets (a mix), not both");
  mixed_ = true;
  eval_path_ = eval_path;
  const auto entries = config.tables("datasets");
  if (entries.empty())
    config.fail("datasets", "is empty; give at least one { path = \"…\" } table");
  for (const Config& entry : entries) {
    Dataset d;
    d.path = entry.require<std::string>("path");
    check_data_file(entry, "path", d.path);
    const double fraction = entry.get<double>("fraction", 1.0);
    if (!(fraction > 0 && fraction <= 1))
      entry.fail("fraction",
                 "must be in (0, 1] (the share of this file's rows), got " + show(fraction));
    if (entry.has("sample_ratio"))
      entry.fail("sample_ratio",
                 "a dataset's share is 'fraction'; sample_ratio belongs to the data table, where "
                 "it scales every dataset's fraction");
    d.keep = fraction * sample_ratio;
    d.eval_path = entry.get<std::string>("eval_path", "");
    if (!d.eval_path.empty()) {
      if (entry.get<double>("eval_fraction", 0.0) > 0)
        entry.fail("eval_fraction", "give either eval_fraction or eval_path, not both");
      check_data_file(entry, "eval_path", d.eval_path);
    } else {
      d.eval_fraction = read_eval_fraction(entry, eval_fraction);
    }
    d.columns = read_columns(entry, columns_);
    d.skip_errors = read_on_error(entry, skip_errors_);
    datasets_.push_back(std::move(d));
  }
}

std::vector<Example> JsonlSource::read(const std::filesystem::path& path, const Columns& columns,
                                       bool skip_errors) {
  FileRecords records = read_jsonl_file(path, columns, skip_errors);
  skipped_ += records.skipped;
  return std::move(records.examples);
}

void JsonlSource::load(std::uint64_t seed) {
  skipped_ = 0;
  train_.clear();
  eval_.clear();
  for (std::size_t index = 0; index < datasets_.size(); ++index) {
    const Dataset& d = datasets_[index];
    std::vector<Example> all = read(d.path, d.columns, d.skip_errors);
    const std::size_t rows = all.size();
    if (d.keep < 1.0) {
      const auto keep = std::max<std::size_t>(
          1, static_cast<std::size_t>(std::llround(d.keep * static_cast<double>(rows))));
      std::vector<Example> kept, dropped;
      split_by_order(all, seeded_order(rows, seed, stream(0x5A3D1E, index)), keep, kept, dropped);
      all = std::move(kept);
    }
    const std::size_t kept = all.size(), train_before = train_.size(), eval_before = eval_.size();
    if (!d.eval_path.empty()) {
      for (auto& ex : all) train_.push_back(std::move(ex));
      for (auto& ex : read(d.eval_path, d.columns, d.skip_errors)) eval_.push_back(std::move(ex));
    } else if (d.eval_fraction > 0) {
      const auto n_eval =
          static_cast<std::size_t>(std::ceil(d.eval_fraction * static_cast<double>(kept)));
      if (n_eval >= kept)
        throw Error(d.path.string() + ": eval_fraction " + show(d.eval_fraction) + " of " +
                    std::to_string(kept) + " records leaves no training data");
      split_by_order(all, seeded_order(kept, seed, stream(0xE7A1, index)), n_eval, eval_, train_);
    } else {
      for (auto& ex : all) train_.push_back(std::move(ex));
    }
    if (mixed_)
      spdlog::info("data: {}: {} of {} rows (fraction × sample_ratio = {}): {} train, {} eval",
                   d.path.string(), kept, rows, show(d.keep), train_.size() - train_before,
                   eval_.size() - eval_before);
  }
  if (mixed_ && !eval_path_.empty())
    for (auto& ex : read(eval_path_, columns_, skip_errors_)) eval_.push_back(std::move(ex));
}

std::size_t JsonlSource::size(Split split) const {
  return split == Split::train ? train_.size() : eval_.size();
}

Example JsonlSource::at(std::size_t index, Split split) const {
  const auto& records = split == Split::train ? train_ : eval_;
  if (index >= records.size())
    throw Error(datasets_.front().path.string() + ": record " + std::to_string(index) +
                " out of range (" + std::to_string(records.size()) + " in the " +
                (split == Split::train ? "train" : "eval") + " split)");
  return records[index];
}

}  // namespace rlhf::jsonl
