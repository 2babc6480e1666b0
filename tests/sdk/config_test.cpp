#include <gtest/gtest.h>

#include "rlhf/config.hpp"

using rlhf::Config;
using rlhf::ConfigError;

TEST(Config, ReadsTypedValuesAndDefaults) {
  Config c = Config::parse("beta = 0.5\nsteps = 3\nname = \"x\"\nflag = true\nmods = [\"q\", \"v\"]\n",
                           "p.toml");
  EXPECT_DOUBLE_EQ(c.get<double>("beta", 0.1), 0.5);
  EXPECT_DOUBLE_EQ(c.get<double>("steps", 0.0), 3.0);  // integer accepted as float
  EXPECT_EQ(c.get<std::int64_t>("steps", 0), 3);
  EXPECT_EQ(c.require<std::string>("name"), "x");
  EXPECT_TRUE(c.get<bool>("flag", false));
  EXPECT_EQ(c.get<std::vector<std::string>>("mods", {}), (std::vector<std::string>{"q", "v"}));
  EXPECT_EQ(c.get<int>("absent", 7), 7);
  EXPECT_TRUE(c.unknown_keys().empty());
}
