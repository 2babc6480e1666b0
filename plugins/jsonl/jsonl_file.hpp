// Reading one JSONL file into Examples: lines → JSON → parse_record (jsonl_record.hpp).
//
// Speed without a `num_proc` knob: the file is read in blocks of whole lines and the lines of a
// block are parsed on every hardware thread (rlhf::parallel_for), the results kept in file
// order; strings are moved out of the parsed JSON, not copied. bench/data_bench.cpp measures it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "jsonl_columns.hpp"
#include "rlhf/example.hpp"

namespace rlhf::jsonl {

struct FileRecords {
  std::vector<Example> examples;  // in file order, `source` = "path:line"
  std::size_t skipped = 0;        // malformed lines skipped (skip_errors only)
};

// Blank lines (whitespace only) are ignored; a UTF-8 byte order mark before the first line and
// the carriage return of CRLF endings are not part of a record. A malformed line throws
// rlhf::Error "path:line: field 'x': why (set on_error = …)" unless `skip_errors`, which counts it
// and logs one warning naming the first. A file without records is an error.
// `block_bytes`: bytes read at a time (tests make it small to cross block boundaries).
inline constexpr std::size_t kBlockBytes = std::size_t{8} << 20;
FileRecords read_jsonl_file(const std::filesystem::path& path, const Columns& columns,
                            bool skip_errors, std::size_t block_bytes = kBlockBytes);

}  // namespace rlhf::jsonl
