// The real rlhf-host binary: exit codes, --list-plugins, --check, --set, and a pipeline that
// composes all five test plugins end to end.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "event_file.hpp"
#include "host_test_util.hpp"
#include "rlhf/version.hpp"

using namespace rlhf::host::testing;

namespace {

// A pipeline using one test plugin of each kind, writing into `out` under the test's cwd.
const char* kComposedPipeline = R"(# all five test plugin kinds
[run]
output_dir = "out"
seed = 1234
threads = 1

[model]
path = "model"
chat_template = "zephyr"

[quantizer]
plugin = "test_round"
decimals = 1

[adapter]
plugin = "test_constant"
value = 0.25
size = 4

[[stage]]
name = "first"
algorithm = "test_recorder"
steps = 3
data = { plugin = "test_numbers", count = 5, prefix = "n" }
reward_model = { plugin = "test_length", scale = 0.5 }

[[stage]]
name = "second"
algorithm = "test_recorder"
steps = 1
adapter = { value = 1.0 }
)";

std::map<std::string, std::string> read_keys(const fs::path& file) {
  std::map<std::string, std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(cwd / "model/config.json", "{}\n");
    write_file(cwd / "pipeline.toml", kComposedPipeline);
  }
  TempDir cwd;
  const std::string good = plugin_path_args({"good"});
};

}  // namespace

TEST_F(Cli, VersionAndHelpExitZero) {
  auto version = run_host("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output,
            std::string("rlhf-host ") + RLHF_SDK_VERSION + " (ABI " + rlhf::sdk_abi_tag() + ")\n");
  auto help = run_host("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--check", "--list-plugins", "--set", "--plugin-path", "--log-level",
                             "--resume", "Subcommands:"})
    EXPECT_NE(help.output.find(option), std::string::npos) << option;
}

TEST_F(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_host("").exit_code, 2);
  auto bad = run_host("--no-such-option");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("unrecognised option '--no-such-option'"), std::string::npos)
      << bad.output;
}

TEST_F(Cli, MistypedSubcommandGetsASuggestion) {
  auto r = run_host("init-modle --out x", cwd.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output,
            "rlhf-host: error: unknown subcommand 'init-modle' (did you mean 'init-model'?)\n");
}

TEST_F(Cli, UnknownLogLevelIsAnError) {
  auto r = run_host("--log-level loud --list-plugins");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown log level 'loud'"), std::string::npos) << r.output;
}

TEST_F(Cli, ListPluginsShowsKindNameVersionAbiAndFile) {
  auto r =
      run_host("--list-plugins" + plugin_path_args({"good", "abi_mismatch", "abi_newer_minor"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::map<std::string, std::vector<std::string>> rows;  // name → columns
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> cols;
    for (std::string w; words >> w;) cols.push_back(w);
    if (cols.size() >= 5) rows[cols[1]] = cols;
  }
  ASSERT_TRUE(rows.count("NAME"));
  EXPECT_EQ(rows["NAME"], (std::vector<std::string>{"KIND", "NAME", "VERSION", "ABI", "FILE"}));
  std::map<std::string, std::string> kinds{{"test_recorder", "algorithm"},
                                           {"test_round", "quantizer"},
                                           {"test_constant", "adapter"},
                                           {"test_numbers", "data"},
                                           {"test_length", "reward_model"}};
  for (const auto& [name, kind] : kinds) {
    ASSERT_TRUE(rows.count(name)) << name << " missing in:\n" << r.output;
    EXPECT_EQ(rows[name][0], kind);
    EXPECT_EQ(rows[name][2], "0.0.1");
    EXPECT_EQ(rows[name][3], "ok");
    EXPECT_EQ(rows[name][4], (kTestPlugins / "good" / ("librlhf_" + name + ".so")).string());
  }
  ASSERT_TRUE(rows.count("test_abi_mismatch"));
  EXPECT_EQ(rows["test_abi_mismatch"][3], "MISMATCH");
  EXPECT_NE(r.output.find("(sdk1-torch0.0-gcc0-test-mismatch)"), std::string::npos);
  ASSERT_TRUE(rows.count("test_abi_newer_minor"));
  EXPECT_EQ(rows["test_abi_newer_minor"][3], "MISMATCH");
  EXPECT_NE(r.output.find("(ABI " + std::to_string(RLHF_SDK_ABI_VERSION) + "." +
                          std::to_string(RLHF_SDK_ABI_MINOR + 1) + ")"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("test_not_a_plugin"), std::string::npos);
}

TEST_F(Cli, PluginPathFromEnvironment) {
  auto r = run_host("--list-plugins");
  EXPECT_EQ(r.output.find("test_recorder"), std::string::npos) << "test plugins are not default";
  std::string command = "RLHF_PLUGIN_PATH=" + quote((kTestPlugins / "good").string()) + " " +
                        quote(kHostBinary.string()) + " --list-plugins 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    output.append(buffer, n);
  EXPECT_EQ(WEXITSTATUS(::pclose(pipe)), 0);
  EXPECT_NE(output.find("test_recorder"), std::string::npos) << output;
}

TEST_F(Cli, CheckValidatesAndWritesNothing) {
  auto r = run_host("--check pipeline.toml" + good, cwd.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pipeline.toml: ok (2 stages"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(cwd / "out"));
}

TEST_F(Cli, SetOverridesAreTypedLikeTheValueTheyReplace) {
  auto ok = run_host("--check pipeline.toml --set stage.first.steps=7 --set run.seed=9" + good,
                     cwd.path());
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  auto bad = run_host("--check pipeline.toml --set run.seed=nine" + good, cwd.path());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("--set run.seed=nine: expected integer"), std::string::npos)
      << bad.output;
  auto no_stage = run_host("--check pipeline.toml --set stage.third.steps=1" + good, cwd.path());
  EXPECT_EQ(no_stage.exit_code, 1);
  EXPECT_NE(no_stage.output.find("no [[stage]] named 'third' (stages: first, second)"),
            std::string::npos)
      << no_stage.output;
  // A new key is still checked: test_recorder does not know `stpes`.
  auto typo = run_host("--check pipeline.toml --set stage.first.stpes=1" + good, cwd.path());
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.output.find("'stage.first.stpes': unknown key (did you mean 'steps'?)"),
            std::string::npos)
      << typo.output;
}

TEST_F(Cli, RunsAPipelineComposingAllFiveKinds) {
  auto r = run_host("pipeline.toml --set stage.first.steps=2" + good, cwd.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path out = cwd / "out";

  auto first = read_keys(out / "first/composition.txt");
  EXPECT_EQ(first["stage"], "first");
  EXPECT_EQ(first["index"], "0");
  EXPECT_EQ(first["seed"], "1234");
  EXPECT_EQ(first["device"], "cpu");
  EXPECT_EQ(first["dtype"], "Float");
  EXPECT_EQ(first["chat_template"], "zephyr");
  EXPECT_EQ(first["data.size"], "5");
  EXPECT_EQ(first["data.first_prompt"], "n0");
  EXPECT_EQ(first["data.first_completion"], "seed1234");  // load() got the run seed
  EXPECT_EQ(first["quantizer.probe"], "0.1,-0.5");        // 0.123, -0.456 rounded to 1 decimal
  EXPECT_EQ(first["adapter.sum"], "1");                   // 4 × 0.25
  EXPECT_EQ(first["reward.abcd"], "2");                   // 0.5 × 4 bytes

  // The second stage overrides adapter.value: its own adapter (4 × 1.0), no data or reward.
  auto second = read_keys(out / "second/composition.txt");
  EXPECT_EQ(second["index"], "1");
  EXPECT_EQ(second["adapter.sum"], "4");
  EXPECT_EQ(second.count("data.size"), 0u);
  EXPECT_EQ(second.count("reward.abcd"), 0u);

  // metrics.jsonl: 2 lines from `first` (steps overridden by --set), 1 from `second`.
  std::ifstream metrics(out / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(metrics, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["stage"], "first");
  EXPECT_EQ(lines[0]["step"], 1);
  EXPECT_DOUBLE_EQ(lines[1]["loss"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(lines[1]["epoch"].get<double>(), 1.0);
  EXPECT_EQ(lines[2]["stage"], "second");

  // run.log has what the console showed; the resolved pipeline records the override.
  const std::string log = read_file(out / "run.log");
  EXPECT_NE(log.find("stage 'first': test_recorder with data 'test_numbers' (5 train / 0 eval"),
            std::string::npos)
      << log;
  EXPECT_NE(read_file(out / "pipeline.toml").find("steps = 2"), std::string::npos);
  // TensorBoard: one run per stage in <stage>/runs/<date>_<host>/, tagged as transformers'
  // Trainer tags (train/<name>, and the epoch as train/epoch), none in the run folder itself.
  for (const auto& entry : fs::directory_iterator(out))
    EXPECT_NE(entry.path().filename().string().rfind("events.out.tfevents.", 0), 0u);
  const auto first_events = rlhf::test::event_files(out / "first");
  ASSERT_EQ(first_events.size(), 1u);
  EXPECT_EQ(first_events[0].parent_path().parent_path(), out / "first/runs");
  const auto scalars = rlhf::test::read_scalars(first_events[0]);
  ASSERT_EQ(scalars.size(), 6u);
  const std::vector<std::tuple<std::string, float, std::int64_t>> expected = {
      {"train/loss", 1.0f, 1}, {"train/learning_rate", 0.0f, 1}, {"train/epoch", 0.5f, 1},
      {"train/loss", 0.5f, 2}, {"train/learning_rate", 0.0f, 2}, {"train/epoch", 1.0f, 2}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(scalars[i].tag, std::get<0>(expected[i])) << i;
    EXPECT_EQ(scalars[i].value, std::get<1>(expected[i])) << i;
    EXPECT_EQ(scalars[i].step, std::get<2>(expected[i])) << i;
  }
  EXPECT_EQ(rlhf::test::event_files(out / "second").size(), 1u);
}

// With a real (tiny) model: the lazily loaded policy goes through the quantizer and adapter,
// persists from one stage to the next, and a stage overriding [model] gets a fresh one.
TEST_F(Cli, PolicyPersistsAcrossStagesUnlessAStageOverridesTheModel) {
  auto init = run_host(
      "init-model --out model --force --hidden-size 32 "
      "--intermediate-size 64 --layers 1 --heads 2 --kv-heads 1 --corpus " +
          quote(std::string(RLHF_SOURCE_DIR) + "/examples/tokenizer/corpus.txt"),
      cwd.path());
  ASSERT_EQ(init.exit_code, 0) << init.output;
  write_file(cwd / "model.toml", R"([run]
output_dir = "out"
[model]
path = "model"
[quantizer]
plugin = "test_round"
[adapter]
plugin = "test_constant"
[[stage]]
name = "one"
algorithm = "test_recorder"
load_model = true
[[stage]]
name = "two"
algorithm = "test_recorder"
load_model = true
[[stage]]
name = "three"
algorithm = "test_recorder"
load_model = true
model = { dtype = "bfloat16" }
)");
  auto r = run_host("model.toml" + good, cwd.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto one = read_keys(cwd / "out/one/composition.txt");
  auto two = read_keys(cwd / "out/two/composition.txt");
  auto three = read_keys(cwd / "out/three/composition.txt");
  EXPECT_EQ(one["model.visits"], "1");
  EXPECT_EQ(two["model.visits"], "2");    // stage one's model, with what stage one did to it
  EXPECT_EQ(three["model.visits"], "1");  // freshly loaded
  EXPECT_EQ(three["dtype"], "BFloat16");
  // test_constant froze every base parameter when it was attached.
  EXPECT_NE(one["model.parameters"], "0");
  EXPECT_EQ(one["model.frozen"], one["model.parameters"]);
  EXPECT_EQ(one["tokenizer.vocab"], "512");
}

// SIGINT asks the running stage to stop at its next step (StageContext::stop_requested); the
// stage returns, later stages do not start, and the exit code is 130.
TEST_F(Cli, SigintStopsTheRunningStageAtAStepBoundary) {
  write_file(cwd / "slow.toml", R"([run]
output_dir = "out"
[model]
path = "model"
[[stage]]
name = "slow"
algorithm = "test_recorder"
steps = 100000
step_sleep_ms = 10
[[stage]]
name = "never"
algorithm = "test_recorder"
)");
  const std::string script =
      "cd " + quote(cwd.path().string()) + " && (" + quote(kHostBinary.string()) + " slow.toml" +
      good +
      " > log.txt 2>&1 & pid=$!; while [ ! -s out/metrics.jsonl ]; do sleep 0.05; done; "
      "kill -INT $pid; wait $pid; echo $?)";
  FILE* pipe = ::popen(script.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[64] = {};
  std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, pipe);
  ::pclose(pipe);
  EXPECT_EQ(std::string(buffer, n), "130\n") << read_file(cwd / "log.txt");
  auto slow = read_keys(cwd / "out/slow/composition.txt");
  EXPECT_EQ(slow["stopped"], "1");
  EXPECT_LT(std::stoll(slow["steps.done"]), 100000);
  EXPECT_FALSE(fs::exists(cwd / "out/never"));
  EXPECT_NE(read_file(cwd / "log.txt").find("stopped by signal; rerun with --resume"),
            std::string::npos);
}
