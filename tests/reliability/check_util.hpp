// Helpers for the "--check finds what the run finds" and "data files" families: a pipeline is
// checked and then run, and both must end alike.
#pragma once

#include <nlohmann/json.hpp>

#include "reliability_util.hpp"

namespace rlhf::reliability {

// The `rlhf-host: error: …` line of a result, or "" when it has none.
inline std::string error_line(const HostResult& r) {
  const auto at = r.output.find("rlhf-host: error: ");
  if (at == std::string::npos) return "";
  return r.output.substr(at, r.output.find('\n', at) - at);
}

// `rlhf-host --check PIPELINE` in `dir`; asserts that it wrote nothing under `dir`.
inline HostResult check_writes_nothing(const fs::path& dir, const fs::path& pipeline,
                                       std::vector<std::string> extra_args = {}) {
  const auto before = tree(dir);
  std::vector<std::string> args = {"--check", pipeline.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  HostResult r = run_host(args, dir, 120);
  EXPECT_EQ(tree(dir), before) << "--check wrote files";
  return r;
}

// --check and the run both exit 1 with the same error line, which holds every needle; --check
// writes nothing. Returns the run's result (for assertions on what it left).
inline HostResult expect_check_and_run_fail_alike(const fs::path& dir, const fs::path& pipeline,
                                                  std::initializer_list<std::string> needles) {
  const HostResult check = check_writes_nothing(dir, pipeline);
  expect_error(check, needles);
  const HostResult run = run_host({pipeline.string()}, dir, 300);
  expect_error(run, needles);
  EXPECT_EQ(error_line(check), error_line(run)) << "--check and the run disagree";
  return run;
}

// A stage of `algorithm` (sft, dpo, orpo) on data table `data` (inline-table body), one step.
inline std::string stage_of(const std::string& algorithm, const std::string& data,
                            const std::string& extra_keys = "", const std::string& name = "s") {
  return "name = \"" + name + "\"\nalgorithm = \"" + algorithm +
         "\"\nmax_steps = 1\nper_device_train_batch_size = 2\nmax_length = 64\n" + extra_keys +
         "data = { plugin = \"jsonl\", " + data + " }\n";
}

inline std::string path_key(const fs::path& p, const std::string& key = "path") {
  return key + " = \"" + p.string() + "\"";
}

// config.json of `model` with `edit` applied.
template <class F>
void edit_config(const fs::path& model, F&& edit) {
  auto config = nlohmann::json::parse(read_file(model / "config.json"));
  edit(config);
  write_file(model / "config.json", config.dump(2));
}

}  // namespace rlhf::reliability
