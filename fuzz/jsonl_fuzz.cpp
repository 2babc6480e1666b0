// Fuzzes the jsonl data source (plugins/jsonl): file → lines → JSON → parse_record → Example,
// then sample_ratio and the eval split — the path every data file of a pipeline takes.
//
// Input: the data file. It is loaded three times: with the defaults (on_error = "error"); with
// on_error = "skip", sample_ratio = 0.5 and eval_fraction = 0.25; and as a mix of itself twice
// with a column mapping (prompt read from "text", chosen and rejected swapped, "label" from
// "margin") and a fraction.
// Oracle, besides ASan/UBSan: every error is an rlhf::Error naming the file; every record
// returned has the shape jsonl_record.hpp promises for its format.
#include <spdlog/spdlog.h>

#include <string>

#include "fuzz_util.hpp"
#include "jsonl_source.hpp"
#include "rlhf/config.hpp"

using rlhf::Message;
using rlhf::fuzz::check;

namespace {

bool known_role(const Message& m) {
  return m.role == "system" || m.role == "user" || m.role == "assistant";
}

bool all_assistant(const std::vector<Message>& messages) {
  for (const auto& m : messages)
    if (m.role != "assistant") return false;
  return true;
}

void check_example(const rlhf::Example& ex, const std::string& path) {
  const std::string at = ex.source + ": ";
  check(ex.source.rfind(path + ":", 0) == 0, at + "source does not name the file");
  for (const auto* list : {&ex.prompt, &ex.chosen, &ex.rejected, &ex.completion})
    for (const auto& m : *list) check(known_role(m), at + "unknown role '" + m.role + "'");
  const bool preference = !ex.chosen.empty() || !ex.rejected.empty();
  if (preference) {
    check(!ex.chosen.empty() && !ex.rejected.empty(), at + "chosen without rejected");
    check(all_assistant(ex.chosen) && all_assistant(ex.rejected),
          at + "a chosen/rejected message that is not the assistant's");
    check(!ex.prompt.empty(), at + "preference record without prompt");
  }
  if (!ex.completion.empty()) check(all_assistant(ex.completion), at + "non-assistant completion");
  const int kinds = int(preference) + int(!ex.completion.empty()) + int(ex.text.has_value());
  check(kinds <= 1, at + "record of two formats at once");
  check(kinds == 1 || !ex.prompt.empty(), at + "record with nothing to train on");
}

// A source made once (its constructor only reads the table and checks that the file exists);
// load() reads the file again every time.
// `options` are the data table's keys besides path (a table with `datasets` gives none).
rlhf::jsonl::JsonlSource make_source(const rlhf::fuzz::MemFile& file, const std::string& options,
                                     bool with_path = true) {
  const rlhf::Config config = rlhf::Config::parse(
      (with_path ? "path = \"" + file.path() + "\"\n" : std::string()) + options, "fuzz.toml");
  rlhf::jsonl::JsonlSource source(config);
  config.check_no_unknown_keys();
  return source;
}

void load(rlhf::jsonl::JsonlSource& source, const std::string& path, std::uint64_t seed) {
  try {
    source.load(seed);
    for (auto split : {rlhf::Split::train, rlhf::Split::eval})
      for (std::size_t i = 0; i < source.size(split); ++i) check_example(source.at(i, split), path);
  } catch (const rlhf::Error& e) {
    check(std::string(e.what()).find(path) != std::string::npos,
          std::string("error without the file name: ") + e.what());
  } catch (const std::exception& e) {
    rlhf::fuzz::finding(std::string("exception other than rlhf::Error: ") + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // on_error = "skip" warns once per file
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static rlhf::fuzz::MemFile file("data.jsonl");
  static rlhf::jsonl::JsonlSource strict = make_source(file, "");
  static rlhf::jsonl::JsonlSource lenient =
      make_source(file, "on_error = \"skip\"\nsample_ratio = 0.5\neval_fraction = 0.25\n");
  static rlhf::jsonl::JsonlSource mixed =
      make_source(file,
                  "on_error = \"skip\"\ncolumns = { prompt = \"text\", chosen = \"rejected\", "
                  "rejected = \"chosen\", label = \"margin\" }\ndatasets = [ { path = \"" +
                      file.path() + "\" }, { path = \"" + file.path() + "\", fraction = 0.5 } ]\n",
                  false);
  file.write(data, size);
  load(strict, file.path(), 42);
  load(lenient, file.path(), size);
  load(mixed, file.path(), size + 1);
  return 0;
}
