#include "jsonl_source.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "jsonl_record.hpp"
#include "rlhf/config.hpp"

namespace rlhf::jsonl {

namespace {

// Seeded Fisher–Yates over 0..n-1; `purpose` separates the sampling and split streams.
std::vector<std::size_t> seeded_order(std::size_t n, std::uint64_t seed, std::uint64_t purpose) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull ^ purpose);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
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

// nlohmann's parse error without its prefix and its "last read" echo, which can hold a whole
// megabyte-long line or bytes that are not UTF-8: "at column 12: syntax error … - <why>".
std::string json_error_reason(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (auto last = what.find("; last read:"); last != std::string::npos) what.resize(last);
  if (auto at = what.find("column "); at != std::string::npos)
    what = "at " + what.substr(at);
  else if (auto colon = what.find("] "); colon != std::string::npos)
    what = what.substr(colon + 2);
  return what;
}

// One line as read: the UTF-8 byte order mark some editors put at the start of a file and the
// carriage return of CRLF line endings are not part of the record.
void strip_line_framing(std::string& line, std::size_t line_no) {
  static const std::string kBom = "\xEF\xBB\xBF";
  if (line_no == 1 && line.compare(0, kBom.size(), kBom) == 0) line.erase(0, kBom.size());
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

}  // namespace

JsonlSource::JsonlSource(const Config& config) {
  path_ = config.require<std::string>("path");
  eval_path_ = config.get<std::string>("eval_path", "");
  eval_fraction_ = config.get<double>("eval_fraction", 0.0);
  sample_ratio_ = config.get<double>("sample_ratio", 1.0);
  std::string on_error = config.get<std::string>("on_error", "error");
  if (on_error != "error" && on_error != "skip")
    config.fail("on_error", "expected \"error\" or \"skip\", got \"" + on_error + "\"");
  skip_errors_ = on_error == "skip";
  if (eval_fraction_ < 0 || eval_fraction_ >= 1)
    config.fail("eval_fraction", "must be in [0, 1), got " + std::to_string(eval_fraction_));
  if (!(sample_ratio_ > 0 && sample_ratio_ <= 1))
    config.fail("sample_ratio", "must be in (0, 1], got " + std::to_string(sample_ratio_));
  if (!eval_path_.empty() && eval_fraction_ > 0)
    config.fail("eval_fraction", "give either eval_fraction or eval_path, not both");
  check_data_file(config, "path", path_);
  if (!eval_path_.empty()) check_data_file(config, "eval_path", eval_path_);
}

std::vector<Example> JsonlSource::read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::vector<Example> out;
  std::string line;
  std::size_t line_no = 0, skipped_here = 0;
  std::string first_error;
  while (std::getline(in, line)) {
    ++line_no;
    strip_line_framing(line, line_no);
    if (std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); }))
      continue;
    const std::string where = path.string() + ":" + std::to_string(line_no);
    try {
      nlohmann::json record;
      try {
        record = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e400)
        throw RecordError("", "malformed JSON " + json_error_reason(e));
      }
      Example ex = parse_record(record);
      ex.source = where;
      out.push_back(std::move(ex));
    } catch (const RecordError& e) {
      if (!skip_errors_)
        throw Error(where + ": " + e.what() +
                    " (set on_error = \"skip\" in the data table to skip such lines)");
      if (first_error.empty()) first_error = where + ": " + e.what();
      ++skipped_here;
    }
  }
  skipped_ += skipped_here;
  if (skipped_here > 0)
    spdlog::warn("{}: skipped {} malformed line(s) of {} (on_error = \"skip\"); first: {}",
                 path.string(), skipped_here, line_no, first_error);
  if (out.empty())
    throw Error(path.string() + ": no records" +
                (skipped_here > 0
                     ? " (every one of " + std::to_string(skipped_here) + " lines was skipped)"
                     : " (the file is empty)"));
  return out;
}

void JsonlSource::load(std::uint64_t seed) {
  skipped_ = 0;
  train_.clear();
  eval_.clear();
  std::vector<Example> all = read_file(path_);
  if (sample_ratio_ < 1.0) {
    std::size_t keep = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::llround(sample_ratio_ * static_cast<double>(all.size()))));
    std::vector<Example> kept, dropped;
    split_by_order(all, seeded_order(all.size(), seed, 0x5A3D1E), keep, kept, dropped);
    all = std::move(kept);
  }
  if (!eval_path_.empty()) {
    train_ = std::move(all);
    eval_ = read_file(eval_path_);
  } else if (eval_fraction_ > 0) {
    std::size_t n_eval =
        static_cast<std::size_t>(std::ceil(eval_fraction_ * static_cast<double>(all.size())));
    if (n_eval >= all.size())
      throw Error(path_.string() + ": eval_fraction " + std::to_string(eval_fraction_) + " of " +
                  std::to_string(all.size()) + " records leaves no training data");
    split_by_order(all, seeded_order(all.size(), seed, 0xE7A1), n_eval, eval_, train_);
  } else {
    train_ = std::move(all);
  }
}

std::size_t JsonlSource::size(Split split) const {
  return split == Split::train ? train_.size() : eval_.size();
}

Example JsonlSource::at(std::size_t index, Split split) const {
  const auto& records = split == Split::train ? train_ : eval_;
  if (index >= records.size())
    throw Error(path_.string() + ": record " + std::to_string(index) + " out of range (" +
                std::to_string(records.size()) + " in the " +
                (split == Split::train ? "train" : "eval") + " split)");
  return records[index];
}

}  // namespace rlhf::jsonl
