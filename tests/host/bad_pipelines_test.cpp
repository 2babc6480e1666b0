// Every file in tests/host/bad_pipelines/ goes through the real rlhf-host and must fail with
// exit code 1, one error line containing each `# expect:` text, and nothing written
// (directives: bad_pipelines/README.md).
#include <gtest/gtest.h>

#include "host_test_util.hpp"

using namespace rlhf::host::testing;

namespace {

const fs::path kBadPipelines = fs::path(RLHF_SOURCE_DIR) / "tests/host/bad_pipelines";

struct Directives {
  std::vector<std::string> expect;
  std::vector<std::string> plugin_dirs{"good"};
  std::string run;
};

Directives read_directives(const fs::path& file) {
  Directives d;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line) && line.rfind("#", 0) == 0) {
    auto value = [&](const std::string& prefix) -> std::optional<std::string> {
      if (line.rfind(prefix, 0) != 0) return std::nullopt;
      return line.substr(prefix.size());
    };
    if (auto v = value("# expect: ")) d.expect.push_back(*v);
    if (auto v = value("# run: ")) d.run = *v;
    if (auto v = value("# plugin-path: ")) {
      d.plugin_dirs.clear();
      std::istringstream words(*v);
      for (std::string w; words >> w;) d.plugin_dirs.push_back(w);
    }
  }
  return d;
}

std::vector<fs::path> bad_pipeline_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kBadPipelines))
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::set<fs::path> tree(const fs::path& dir) {
  std::set<fs::path> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) out.insert(entry.path());
  return out;
}

}  // namespace

class BadPipeline : public ::testing::TestWithParam<fs::path> {};

TEST_P(BadPipeline, FailsWithItsExpectedMessageAndWritesNothing) {
  const fs::path file = GetParam();
  const Directives d = read_directives(file);
  ASSERT_FALSE(d.expect.empty()) << file << " has no '# expect:' line";

  TempDir cwd;
  write_file(cwd / "model/config.json", "{}\n");
  const auto before = tree(cwd.path());

  std::string args;
  for (const auto& dir : d.plugin_dirs) args += plugin_path_args({dir});
  const fs::path pipeline = d.run.empty() ? file : kBadPipelines / d.run;
  auto result = run_host(args + " " + quote(pipeline.string()), cwd.path());

  EXPECT_EQ(result.exit_code, 1) << result.output;
  for (const auto& text : d.expect)
    EXPECT_NE(result.output.find(text), std::string::npos) << "expected '" << text << "' in:\n"
                                                           << result.output;
  // One clear line: the error and nothing else (no log lines at the default level).
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_EQ(result.output.rfind("rlhf-host: error: ", 0), 0u) << result.output;
  EXPECT_EQ(tree(cwd.path()), before) << "files were written";
}

INSTANTIATE_TEST_SUITE_P(Files, BadPipeline, ::testing::ValuesIn(bad_pipeline_files()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string name = info.param.stem().string();
                           for (auto& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });
