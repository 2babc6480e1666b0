// shortest_toml_floats: floats shortened to the shortest text that parses back to the same
// double; strings, comments, integers and dates untouched.
#include "toml_floats.hpp"

#include <gtest/gtest.h>

#include <toml++/toml.h>
#include <sstream>

using rlhf::host::shortest_toml_floats;

TEST(ShortestTomlFloats, ShortensFloatsAndKeepsTheirValue) {
  EXPECT_EQ(shortest_toml_floats("beta = 0.10000000000000001\n"), "beta = 0.1\n");
  EXPECT_EQ(shortest_toml_floats("lr = 3.0000000000000001e-05\nx = -2.5\n"),
            "lr = 3e-05\nx = -2.5\n");
  // 0.1 + 0.2 has no shorter exact form; 1.0 must stay a float.
  EXPECT_EQ(shortest_toml_floats("a = [0.30000000000000004, 1.0]\n"),
            "a = [0.30000000000000004, 1.0]\n");
  EXPECT_EQ(shortest_toml_floats("d = { eval_fraction = 0.050000000000000003, n = 12 }\n"),
            "d = { eval_fraction = 0.05, n = 12 }\n");
}

TEST(ShortestTomlFloats, LeavesStringsCommentsIntegersAndDatesAlone) {
  const std::string text =
      "p = 'run_0.10000000000000001'\n"
      "q = \"say \\\"0.20000000000000001\\\"\"\n"
      "m = '''\n0.30000000000000001\n'''\n"
      "# 0.40000000000000002\n"
      "seed = 1234\n"
      "when = 1979-05-27\n"
      "big = 1_000.5\n";
  EXPECT_EQ(shortest_toml_floats(text), text);
}

TEST(ShortestTomlFloats, FormatterOutputRoundTripsToTheSameDoubles) {
  auto doc = toml::parse(
      "[run]\nseed = 3\n[[stage]]\nbeta = 0.1\nlr = 3e-3\nwarm = 0.05\n"
      "data = { frac = 0.07, tiny = 1.2345678901234567e-300 }\n");
  std::ostringstream formatted;
  formatted << toml::toml_formatter(doc);
  const std::string text = shortest_toml_floats(formatted.str());
  EXPECT_NE(text.find("beta = 0.1\n"), std::string::npos) << text;
  auto back = toml::parse(text);
  const auto& a = *doc["stage"].as_array()->get(0)->as_table();
  const auto& b = *back["stage"].as_array()->get(0)->as_table();
  for (const char* key : {"beta", "lr", "warm"})
    EXPECT_EQ(a[key].value<double>(), b[key].value<double>()) << key;
  EXPECT_EQ(a["data"]["frac"].value<double>(), b["data"]["frac"].value<double>());
  EXPECT_EQ(a["data"]["tiny"].value<double>(), b["data"]["tiny"].value<double>());
  EXPECT_EQ(back["run"]["seed"].value<std::int64_t>(), 3);
}
