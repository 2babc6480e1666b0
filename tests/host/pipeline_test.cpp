// In-process checks of pipeline loading: --set typing, stage overrides merged over the
// globals, and the output_dir / device checks.
#include "pipeline.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <toml++/toml.h>

#include "host_test_util.hpp"
#include "plugin_registry.hpp"
#include "rlhf/adapter.hpp"
#include "set_override.hpp"

using namespace rlhf::host;
using namespace rlhf::host::testing;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "<no error>";
}

toml::table overridden(const std::string& text, const std::vector<std::string>& sets) {
  toml::table doc = toml::parse(text);
  for (const auto& s : sets) apply_override(doc, s);
  return doc;
}

}  // namespace

TEST(SetOverride, KeepsTheTypeOfTheValueItReplaces) {
  auto doc = overridden(
      "[run]\nseed = 1\nname = \"a\"\n[adapter]\nalpha = 16.0\nuse = false\nmods = [\"q\"]\n",
      {"run.seed=7", "run.name=123", "adapter.alpha=8", "adapter.use=true",
       "adapter.mods=[\"k\", \"v\"]"});
  EXPECT_EQ(doc["run"]["seed"].value_exact<std::int64_t>(), 7);
  EXPECT_EQ(doc["run"]["name"].value_exact<std::string>(), "123");  // stays a string
  EXPECT_EQ(doc["adapter"]["alpha"].value_exact<double>(), 8.0);    // stays a float
  EXPECT_EQ(doc["adapter"]["use"].value_exact<bool>(), true);
  ASSERT_TRUE(doc["adapter"]["mods"].is_array());
  EXPECT_EQ(doc["adapter"]["mods"][1].value_exact<std::string>(), "v");
}

TEST(SetOverride, NewKeysTakeTheirTomlTypeAndStagesAreFoundByName) {
  auto doc = overridden("[[stage]]\nname = \"sft\"\n[[stage]]\nname = \"dpo\"\nbeta = 0.1\n",
                        {"stage.dpo.beta=0.2", "stage.sft.max_steps=5", "stage.sft.note=hello",
                         "stage.dpo.data.path=x.jsonl", "quantizer.plugin=nf4"});
  EXPECT_EQ(doc["stage"][1]["beta"].value_exact<double>(), 0.2);
  EXPECT_EQ(doc["stage"][0]["max_steps"].value_exact<std::int64_t>(), 5);
  EXPECT_EQ(doc["stage"][0]["note"].value_exact<std::string>(), "hello");
  EXPECT_EQ(doc["stage"][1]["data"]["path"].value_exact<std::string>(), "x.jsonl");
  EXPECT_EQ(doc["quantizer"]["plugin"].value_exact<std::string>(), "nf4");
}

TEST(SetOverride, RejectsMistypedValuesAndBadPaths) {
  const std::string text = "[run]\nseed = 1\nuse = true\n";
  EXPECT_EQ(error_of([&] { overridden(text, {"run.seed=1.5"}); }),
            "--set run.seed=1.5: expected integer (the type of the value it replaces), got '1.5'");
  EXPECT_NE(error_of([&] { overridden(text, {"run.use=yes"}); }).find("expected boolean"),
            std::string::npos);
  EXPECT_NE(error_of([&] { overridden(text, {"seed"}); }).find("expected table.key=value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { overridden(text, {"run=3"}); }).find("expected table.key=value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { overridden(text, {"run.seed.x=3"}); }).find("'seed' is a integer"),
            std::string::npos);
}

class LoadPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(cwd / "model/config.json", "{}\n");
    write_file(cwd / "other/config.json", "{}\n");
  }
  Pipeline load(const std::string& text, const std::vector<std::string>& sets = {}) {
    write_file(cwd / "p.toml", text);
    return load_pipeline(cwd / "p.toml", sets, registry);
  }
  TempDir cwd;
  PluginRegistry registry{{kTestPlugins / "good"}};
};

TEST_F(LoadPipeline, StageOverridesMergeOverTheGlobalTables) {
  const std::string text = "[run]\noutput_dir = \"" + (cwd / "out").string() +
                           "\"\n"
                           "[model]\npath = \"" +
                           (cwd / "model").string() +
                           "\"\nchat_template = \"zephyr\"\n"
                           "[adapter]\nplugin = \"test_constant\"\nvalue = 0.5\nsize = 2\n"
                           "[[stage]]\nname = \"a\"\nalgorithm = \"test_recorder\"\n"
                           "[[stage]]\nname = \"b\"\nalgorithm = \"test_recorder\"\n"
                           "model = { path = \"" +
                           (cwd / "other").string() +
                           "\", dtype = \"bfloat16\" }\n"
                           "adapter = { value = 2.0 }\n";
  Pipeline p = load(text);
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_FALSE(p.stages[0].fresh_policy);
  EXPECT_EQ(p.stages[0].adapter, p.adapter);
  EXPECT_EQ(p.stages[0].model.path, cwd / "model");

  const StagePlan& b = p.stages[1];
  EXPECT_TRUE(b.fresh_policy);
  EXPECT_EQ(b.model.path, cwd / "other");
  EXPECT_EQ(b.model.dtype, c10::kBFloat16);
  EXPECT_EQ(b.model.chat_template, "zephyr");  // inherited from [model]
  ASSERT_NE(b.adapter, nullptr);
  EXPECT_NE(b.adapter, p.adapter);
  // value from the override, size inherited from [adapter]: 2 × 2.0
  EXPECT_DOUBLE_EQ(b.adapter->parameters().at(0).sum().item<double>(), 4.0);
  EXPECT_DOUBLE_EQ(p.adapter->parameters().at(0).sum().item<double>(), 1.0);
  // Nothing was written.
  EXPECT_FALSE(fs::exists(cwd / "out"));
}

TEST_F(LoadPipeline, OutputDirMustBeWritable) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere; covered via /dev/null instead";
  fs::create_directories(cwd / "locked");
  ::chmod((cwd / "locked").c_str(), 0555);
  auto msg = error_of([&] { check_output_dir_writable(cwd / "locked/run/x"); });
  ::chmod((cwd / "locked").c_str(), 0755);
  EXPECT_NE(msg.find("is not writable: no write permission on '" + (cwd / "locked").string()),
            std::string::npos)
      << msg;
}

TEST(CheckOutputDir, AcceptsCreatableAndRejectsUnderAFile) {
  TempDir dir;
  EXPECT_NO_THROW(check_output_dir_writable(dir / "a/b/c"));
  EXPECT_FALSE(fs::exists(dir / "a"));  // checked, not created
  write_file(dir / "file", "x");
  EXPECT_EQ(error_of([&] { check_output_dir_writable(dir / "file/run"); }),
            "output_dir '" + (dir / "file/run").string() + "' cannot be created: '" +
                (dir / "file").string() + "' is not a folder");
}

TEST(ParseDevice, KnowsCpuAutoAndCuda) {
  EXPECT_EQ(parse_device("cpu"), c10::Device(c10::kCPU));
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(parse_device("auto"), c10::Device(c10::kCPU));
    EXPECT_NE(error_of([] { parse_device("cuda:1"); }).find("device 'cuda:1' is not available"),
              std::string::npos);
  } else {
    EXPECT_EQ(parse_device("auto"), c10::Device(c10::kCUDA, 0));
  }
  EXPECT_NE(error_of([] { parse_device("cuda:x"); }).find("unknown device 'cuda:x'"),
            std::string::npos);
  EXPECT_EQ(parse_dtype("bfloat16"), c10::kBFloat16);
}
