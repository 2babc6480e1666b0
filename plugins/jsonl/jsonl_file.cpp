#include "jsonl_file.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <string_view>

#include "jsonl_record.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/parallel_for.hpp"

namespace rlhf::jsonl {

namespace {

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
std::string_view strip_line_framing(std::string_view line, std::size_t line_no) {
  static constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (line_no == 1 && line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

struct Line {
  std::string_view text;
  std::size_t number = 0;
};

// What one line became: an Example, nothing (blank), or the reason it is malformed.
struct ParsedLine {
  Example example;
  std::string error;
  bool blank = false;
  bool ok = false;
};

ParsedLine parse_line(const Line& line, const std::string& path, const Columns& columns) {
  ParsedLine out;
  const std::string_view text = strip_line_framing(line.text, line.number);
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) {
    out.blank = true;
    return out;
  }
  try {
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(text.data(), text.data() + text.size());
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e400)
      throw RecordError("", "malformed JSON " + json_error_reason(e));
    }
    out.example = parse_record(record, columns);
    out.example.source = path + ":" + std::to_string(line.number);
    out.ok = true;
  } catch (const RecordError& e) {
    out.error = e.what();
  }
  return out;
}

// The lines of buf[0, end), numbered on from `line_no`.
void split_lines(const std::string& buf, std::size_t end, std::size_t& line_no,
                 std::vector<Line>& lines) {
  lines.clear();
  const char* p = buf.data();
  const char* const stop = buf.data() + end;
  while (p < stop) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', std::size_t(stop - p)));
    const char* line_end = nl ? nl : stop;
    lines.push_back({std::string_view(p, std::size_t(line_end - p)), ++line_no});
    p = nl ? nl + 1 : stop;
  }
}

}  // namespace

FileRecords read_jsonl_file(const std::filesystem::path& path, const Columns& columns,
                            bool skip_errors, std::size_t block_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  // No bigger than the file: a buffer is allocated (and zeroed) per block read.
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(path, ec);
  if (!ec) block_bytes = std::min<std::size_t>(block_bytes, std::size_t(file_bytes) + 1);
  block_bytes = std::max<std::size_t>(block_bytes, 1);
  const std::string name = path.string();
  FileRecords out;
  std::string first_error, buf;
  std::size_t line_no = 0;
  std::vector<Line> lines;
  std::vector<ParsedLine> parsed;
  for (bool eof = false; !eof;) {
    const std::size_t old = buf.size();
    buf.resize(old + block_bytes);
    in.read(buf.data() + old, static_cast<std::streamsize>(block_bytes));
    const auto got = static_cast<std::size_t>(in.gcount());
    buf.resize(old + got);
    eof = got < block_bytes;
    // A block holds whole lines only (a line longer than a block makes it grow); what follows the
    // last newline waits for the next block. The carried part holds no newline, so only the new
    // bytes are searched.
    std::size_t end = buf.size();
    if (!eof) {
      const void* nl = got > 0 ? ::memrchr(buf.data() + old, '\n', got) : nullptr;
      if (!nl) continue;
      end = std::size_t(static_cast<const char*>(nl) - buf.data()) + 1;
    }
    split_lines(buf, end, line_no, lines);
    parsed.assign(lines.size(), ParsedLine{});
    // A thread per 64 lines at most: a short file is not worth starting threads for.
    parallel_for(
        lines.size(), [&](std::size_t i) { parsed[i] = parse_line(lines[i], name, columns); },
        std::min(default_thread_count(), 1 + lines.size() / 64));
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      if (parsed[i].blank) continue;
      if (parsed[i].ok) {
        out.examples.push_back(std::move(parsed[i].example));
        continue;
      }
      const std::string where = name + ":" + std::to_string(lines[i].number);
      if (!skip_errors)
        throw Error(where + ": " + parsed[i].error +
                    " (set on_error = \"skip\" in the data table to skip such lines)");
      if (first_error.empty()) first_error = where + ": " + parsed[i].error;
      ++out.skipped;
    }
    buf.erase(0, end);
  }
  if (out.skipped > 0)
    spdlog::warn("{}: skipped {} malformed line(s) of {} (on_error = \"skip\"); first: {}", name,
                 out.skipped, line_no, first_error);
  if (out.examples.empty())
    throw Error(name + ": no records" +
                (out.skipped > 0
                     ? " (every one of " + std::to_string(out.skipped) + " lines was skipped)"
                     : " (the file is empty)"));
  return out;
}

}  // namespace rlhf::jsonl
