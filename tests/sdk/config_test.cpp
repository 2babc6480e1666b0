#include <gtest/gtest.h>

#include <functional>

#include "rlhf/config.hpp"

using rlhf::Config;
using rlhf::ConfigError;

TEST(Config, ReadsTypedValuesAndDefaults) {
  Config c = Config::parse(
      "beta = 0.5\nsteps = 3\nname = \"x\"\nflag = true\nmods = [\"q\", \"v\"]\n", "p.toml");
  EXPECT_DOUBLE_EQ(c.get<double>("beta", 0.1), 0.5);
  EXPECT_DOUBLE_EQ(c.get<double>("steps", 0.0), 3.0);  // integer accepted as float
  EXPECT_EQ(c.get<std::int64_t>("steps", 0), 3);
  EXPECT_EQ(c.require<std::string>("name"), "x");
  EXPECT_TRUE(c.get<bool>("flag", false));
  EXPECT_EQ(c.get<std::vector<std::string>>("mods", {}), (std::vector<std::string>{"q", "v"}));
  EXPECT_EQ(c.get<int>("absent", 7), 7);
  EXPECT_TRUE(c.unknown_keys().empty());
}

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST(Config, RequiredKeyMissingNamesKeyPathAndType) {
  Config root = Config::parse("[stage]\nbeta = 0.1\n", "p.toml");
  Config stage = root.table("stage");
  auto msg = error_of([&] { stage.require<std::string>("algorithm"); });
  EXPECT_EQ(msg, "p.toml:1:1: 'stage.algorithm': required key is missing (expected string)");
}

TEST(Config, WrongTypeSaysExpectedAndGotAtTheValue) {
  Config c = Config::parse("a = 1\nbeta = \"high\"\nmods = [\"q\", 3]\n", "p.toml");
  EXPECT_EQ(error_of([&] { c.get<double>("beta", 0.1); }),
            "p.toml:2:8: 'beta': expected float, got string");
  EXPECT_EQ(error_of([&] { c.get<bool>("a", false); }),
            "p.toml:1:5: 'a': expected boolean, got integer");
  EXPECT_EQ(error_of([&] { c.get<std::vector<std::string>>("mods", {}); }),
            "p.toml:3:8: 'mods': expected array of string, got array");
}

TEST(Config, UnknownKeysHaveLocationAndSuggestion) {
  Config c = Config::parse("beta = 0.1\nbta = 0.2\nlearning_rat = 1e-5\nzzz = 1\n", "p.toml");
  c.get<double>("beta", 0.0);
  c.get<double>("learning_rate", 0.0);
  auto unknown = c.unknown_keys();
  ASSERT_EQ(unknown.size(), 3u);
  EXPECT_EQ(unknown[0].key_path, "bta");
  EXPECT_EQ(unknown[0].location, "p.toml:2:1");
  EXPECT_EQ(unknown[0].suggestion, "beta");
  EXPECT_EQ(unknown[1].key_path, "learning_rat");
  EXPECT_EQ(unknown[1].suggestion, "learning_rate");
  EXPECT_EQ(unknown[2].key_path, "zzz");
  EXPECT_EQ(unknown[2].suggestion, "");  // nothing close
  EXPECT_EQ(error_of([&] { c.check_no_unknown_keys(); }),
            "p.toml:2:1: 'bta': unknown key (did you mean 'beta'?) (and 2 more unknown keys)");
}

TEST(Config, NestedTablesTrackTheirOwnKeys) {
  Config root = Config::parse(
      "[[stage]]\nname = \"a\"\ndata = { plugin = \"jsonl\", pth = \"x\" }\n", "p.toml");
  auto stages = root.tables("stage");
  ASSERT_EQ(stages.size(), 1u);
  EXPECT_EQ(stages[0].require<std::string>("name"), "a");
  Config data = stages[0].table("data");
  EXPECT_EQ(data.key_path(), "stage[0].data");
  EXPECT_EQ(data.require<std::string>("plugin"), "jsonl");
  data.declare("path");
  auto unknown = root.unknown_keys();
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].key_path, "stage[0].data.pth");
  EXPECT_EQ(unknown[0].location, "p.toml:3:28");
  EXPECT_EQ(unknown[0].suggestion, "path");
  // Asking for the same table again shares the tracking.
  stages[0].table("data").declare("pth");
  EXPECT_TRUE(root.unknown_keys().empty());
}

TEST(Config, SyntaxErrorAndMissingFileCarryTheLocation) {
  auto msg = error_of([] { Config::parse("a = 1\nb = = 2\n", "bad.toml"); });
  EXPECT_EQ(msg.rfind("bad.toml:2:", 0), 0u) << msg;
  EXPECT_NE(error_of([] {
              Config::parse_file("/no/such/file.toml");
            }).find("/no/such/file.toml: cannot open file for reading"),
            std::string::npos);
}

TEST(Config, FailLocatesAPluginSideError) {
  Config c = Config::parse("[adapter]\nr = 0\n", "p.toml");
  Config adapter = c.table("adapter");
  EXPECT_EQ(error_of([&] { adapter.fail("r", "must be positive"); }),
            "p.toml:2:5: 'adapter.r': must be positive");
}

TEST(EditDistance, CountsTranspositionsAsOneEdit) {
  EXPECT_EQ(rlhf::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(rlhf::edit_distance("stpes", "steps"), 1u);
  EXPECT_EQ(rlhf::edit_distance("", "abc"), 3u);
  EXPECT_EQ(rlhf::closest_match("rnu", {"run", "model", "stage"}), "run");
  EXPECT_EQ(rlhf::closest_match("x", {"run", "model"}), "");
}

TEST(Config, NonFiniteAndOverflowingNumbersAreRefusedAtTheirValue) {
  Config c = Config::parse(
      "lr = nan\nratio = -inf\nlist = [0.5, inf]\nthreads = 4294967297\nok = 1e300\n", "p.toml");
  EXPECT_EQ(error_of([&] { c.get<double>("lr", 0.0); }),
            "p.toml:1:6: 'lr': must be a finite number, got nan");
  EXPECT_EQ(error_of([&] { c.get<double>("ratio", 0.0); }),
            "p.toml:2:9: 'ratio': must be a finite number, got -inf");
  EXPECT_EQ(error_of([&] { c.get<std::vector<double>>("list", {}); }),
            "p.toml:3:14: 'list[1]': must be a finite number, got inf");
  EXPECT_EQ(error_of([&] { c.get<int>("threads", 0); }),
            "p.toml:4:11: 'threads': 4294967297 is out of range (-2147483648..2147483647)");
  EXPECT_EQ(c.get<std::int64_t>("threads", 0), 4294967297);  // fits the wider type
  EXPECT_DOUBLE_EQ(c.get<double>("ok", 0.0), 1e300);         // finite: the key's own range
}
