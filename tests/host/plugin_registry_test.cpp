#include "plugin_registry.hpp"

#include <gtest/gtest.h>

#include "rlhf/algorithm.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/version.hpp"

using rlhf::PluginKind;
using rlhf::host::PluginRegistry;

namespace {

const std::filesystem::path kTestPlugins = RLHF_TEST_PLUGIN_DIR;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(PluginRegistry, DiscoversOnePluginOfEachKindAndSkipsNonPlugins) {
  PluginRegistry registry({kTestPlugins / "good", kTestPlugins / "no_such_folder"});
  std::vector<std::pair<PluginKind, std::string>> found;
  for (const auto& p : registry.plugins()) {
    found.emplace_back(p.kind, p.name);
    EXPECT_TRUE(p.abi_ok) << p.name;
    EXPECT_EQ(p.abi_tag, rlhf::sdk_abi_tag());
    EXPECT_EQ(p.version, "0.0.1");
    EXPECT_EQ(p.file.filename(), "librlhf_" + p.name + ".so");
  }
  // librlhf_test_not_a_plugin.so sits in the same folder and is not listed.
  std::vector<std::pair<PluginKind, std::string>> expected{
      {PluginKind::algorithm, "test_recorder"},
      {PluginKind::quantizer, "test_round"},
      {PluginKind::adapter, "test_constant"},
      {PluginKind::data, "test_numbers"},
      {PluginKind::reward_model, "test_length"}};
  EXPECT_EQ(found, expected);
  ASSERT_TRUE(std::filesystem::exists(kTestPlugins / "good" / "librlhf_test_not_a_plugin.so"));
  EXPECT_EQ(registry.names(PluginKind::data), std::vector<std::string>{"test_numbers"});
}

TEST(PluginRegistry, CreatesObjectsWithTheirConfig) {
  PluginRegistry registry({kTestPlugins / "good"});
  auto data = registry.create<rlhf::DataSource>(PluginKind::data, "test_numbers",
                                                rlhf::Config::parse("count = 3\nprefix = \"n\""));
  data->load(7);
  ASSERT_EQ(data->size(), 3u);
  EXPECT_EQ(data->at(2).prompt.at(0).content, "n2");
  EXPECT_EQ(data->at(2).completion.at(0).content, "seed7");

  auto quantizer = registry.create<rlhf::Quantizer>(PluginKind::quantizer, "test_round",
                                                    rlhf::Config::parse("decimals = 2"));
  auto w = quantizer->quantize(torch::tensor({{0.123456, -2.0051}}, torch::kFloat64), "p",
                               torch::kFloat64);
  auto d = w->dense(torch::kFloat64);
  EXPECT_DOUBLE_EQ(d[0][0].item<double>(), 0.12);
  EXPECT_DOUBLE_EQ(d[0][1].item<double>(), -2.01);
}

TEST(PluginRegistry, ObjectOutlivesRegistry) {
  std::shared_ptr<rlhf::DataSource> data;
  {
    PluginRegistry registry({kTestPlugins / "good"});
    data = registry.create<rlhf::DataSource>(PluginKind::data, "test_numbers", rlhf::Config());
  }
  // The library is still loaded: calling into it works after the registry is gone.
  data->load(1);
  EXPECT_EQ(data->size(), 4u);
  EXPECT_EQ(data->at(3).prompt.at(0).content, "q3");
}

TEST(PluginRegistry, PluginConstructorErrorsPropagate) {
  PluginRegistry registry({kTestPlugins / "good"});
  auto msg = error_of([&] {
    registry.create<rlhf::DataSource>(PluginKind::data, "test_numbers",
                                      rlhf::Config::parse("count = -1", "p.toml"));
  });
  EXPECT_NE(msg.find("p.toml:1:9: 'count': must be positive"), std::string::npos) << msg;
}

TEST(PluginRegistry, UnknownNameListsKnownOnesOfThatKind) {
  PluginRegistry registry({kTestPlugins / "good"});
  auto msg = error_of([&] {
    registry.create<rlhf::Algorithm>(PluginKind::algorithm, "test_recordr", rlhf::Config());
  });
  EXPECT_NE(msg.find("unknown algorithm plugin 'test_recordr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'test_recorder'?"), std::string::npos) << msg;
  EXPECT_NE(msg.find("known: test_recorder"), std::string::npos) << msg;
  // Names of other kinds are not offered.
  EXPECT_EQ(msg.find("test_numbers"), std::string::npos) << msg;
}

TEST(PluginRegistry, WrongInterfaceIsAnError) {
  PluginRegistry registry({kTestPlugins / "good"});
  auto msg = error_of(
      [&] { registry.create<rlhf::Quantizer>(PluginKind::data, "test_numbers", rlhf::Config()); });
  EXPECT_NE(msg.find("does not implement the data interface"), std::string::npos) << msg;
}

TEST(PluginRegistry, AbiMismatchIsRecordedAndRefusedNamingFileAndBothTags) {
  PluginRegistry registry({kTestPlugins / "abi_mismatch"});
  ASSERT_EQ(registry.plugins().size(), 1u);
  const auto& record = registry.plugins()[0];
  EXPECT_FALSE(record.abi_ok);
  EXPECT_EQ(record.abi_tag, "sdk1-torch0.0-gcc0-test-mismatch");
  auto msg = error_of([&] {
    registry.create<rlhf::Algorithm>(PluginKind::algorithm, "test_abi_mismatch", rlhf::Config());
  });
  EXPECT_NE(msg.find((kTestPlugins / "abi_mismatch" / "librlhf_test_abi_mismatch.so").string()),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("'sdk1-torch0.0-gcc0-test-mismatch'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::string("'") + rlhf::sdk_abi_tag() + "'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

TEST(PluginRegistry, NewerAbiMinorIsRefusedOlderOrEqualLoads) {
  // Same major: a plugin may be older than the host (it cannot use what it does not know), never
  // newer (it may call what the host lacks).
  EXPECT_TRUE(rlhf::abi_compatible(3, 0, 3, 0));
  EXPECT_TRUE(rlhf::abi_compatible(3, 1, 3, 4));
  EXPECT_FALSE(rlhf::abi_compatible(3, 2, 3, 1));
  EXPECT_FALSE(rlhf::abi_compatible(2, 0, 3, 0));
  EXPECT_FALSE(rlhf::abi_compatible(4, 0, 3, 9));

  PluginRegistry registry({kTestPlugins / "abi_newer_minor"});
  ASSERT_EQ(registry.plugins().size(), 1u);
  const auto& record = registry.plugins()[0];
  EXPECT_EQ(record.abi_tag, rlhf::sdk_abi_tag());  // the tag matches: only the minor is newer
  EXPECT_FALSE(record.abi_ok);
  EXPECT_EQ(record.abi_minor, RLHF_SDK_ABI_MINOR + 1u);
  auto msg = error_of([&] {
    registry.create<rlhf::Algorithm>(PluginKind::algorithm, "test_abi_newer_minor", rlhf::Config());
  });
  const std::string host =
      std::to_string(RLHF_SDK_ABI_VERSION) + "." + std::to_string(RLHF_SDK_ABI_MINOR);
  const std::string plugin =
      std::to_string(RLHF_SDK_ABI_VERSION) + "." + std::to_string(RLHF_SDK_ABI_MINOR + 1);
  EXPECT_NE(msg.find("built against SDK ABI " + plugin + ", host has " + host), std::string::npos)
      << msg;
}

TEST(PluginRegistry, UnloadableLibraryIsAnErrorNamingFileAndSymbol) {
  auto msg = error_of([&] { PluginRegistry registry({kTestPlugins / "unloadable"}); });
  EXPECT_NE(msg.find((kTestPlugins / "unloadable" / "librlhf_test_unloadable.so").string()),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("rlhf_test_function_defined_nowhere"), std::string::npos) << msg;
}

TEST(PluginRegistry, DuplicateKindAndNameIsAnErrorNamingBothFiles) {
  auto msg = error_of([&] {
    PluginRegistry registry({kTestPlugins / "good", kTestPlugins / "duplicate"});
  });
  EXPECT_NE(msg.find("duplicate algorithm plugin 'test_recorder'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("librlhf_test_recorder.so"), std::string::npos) << msg;
  EXPECT_NE(msg.find("librlhf_test_duplicate.so"), std::string::npos) << msg;
}

TEST(PluginRegistry, SameFolderTwiceIsNotADuplicate) {
  PluginRegistry registry({kTestPlugins / "good", kTestPlugins / "good/../good"});
  EXPECT_EQ(registry.plugins().size(), 5u);
}
