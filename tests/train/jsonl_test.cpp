// The "jsonl" data source: every TRL format, errors naming file:line and field, skipping,
// empty data, deterministic eval split and sampling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "jsonl/jsonl_source.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using rlhf::Config;
using rlhf::Example;
using rlhf::Split;
using rlhf::jsonl::JsonlSource;

namespace {

fs::path write_file(const std::string& name, const std::string& text) {
  fs::path dir = rlhf::test::process_temp_path("jsonl");
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p;
}

// A source over `path` with extra TOML keys, loaded with `seed`.
std::unique_ptr<JsonlSource> load(const fs::path& path, const std::string& extra = "",
                                  std::uint64_t seed = 1) {
  Config c = Config::parse("path = \"" + path.string() + "\"\n" + extra, "p.toml");
  auto source = std::make_unique<JsonlSource>(c);
  EXPECT_TRUE(c.unknown_keys().empty());
  source->load(seed);
  return source;
}

std::string load_error(const fs::path& path, const std::string& extra = "") {
  try {
    load(path, extra);
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string numbered_prefs(int n) {
  std::string text;
  for (int i = 0; i < n; ++i)
    text +=
        "{\"prompt\": \"q" + std::to_string(i) + "\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
  return text;
}

}  // namespace

TEST(Jsonl, StandardPreference) {
  auto s = load(write_file("std.jsonl",
                           "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"5\", "
                           "\"answer\": 4}\n\n"));
  ASSERT_EQ(s->size(), 1u);
  Example e = s->at(0);
  EXPECT_EQ(e.prompt, (std::vector<rlhf::Message>{{"user", "2+2?"}}));
  EXPECT_EQ(e.chosen, (std::vector<rlhf::Message>{{"assistant", "4"}}));
  EXPECT_EQ(e.rejected, (std::vector<rlhf::Message>{{"assistant", "5"}}));
  EXPECT_FALSE(e.conversational);
  EXPECT_EQ(e.fields.at("answer"), "4");
  EXPECT_EQ(e.source, write_file("std.jsonl", "").string() + ":1");
}

TEST(Jsonl, ConversationalAndImplicitPrompt) {
  auto s = load(write_file(
      "conv.jsonl",
      "{\"prompt\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": "
      "\"hi\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"hello\"}], \"rejected\": "
      "[{\"role\": \"assistant\", \"content\": \"go away\"}]}\n"
      "{\"chosen\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", "
      "\"content\": \"hello\"}], \"rejected\": [{\"role\": \"user\", \"content\": \"hi\"}, "
      "{\"role\": \"assistant\", \"content\": \"no\"}]}\n"));
  ASSERT_EQ(s->size(), 2u);
  Example a = s->at(0);
  EXPECT_TRUE(a.conversational);
  EXPECT_EQ(a.prompt.size(), 2u);
  EXPECT_EQ(a.prompt[0].role, "system");
  EXPECT_EQ(a.rejected[0].content, "go away");
  Example b = s->at(1);  // implicit prompt: the shared prefix
  EXPECT_EQ(b.prompt, (std::vector<rlhf::Message>{{"user", "hi"}}));
  EXPECT_EQ(b.chosen, (std::vector<rlhf::Message>{{"assistant", "hello"}}));
  EXPECT_EQ(b.rejected, (std::vector<rlhf::Message>{{"assistant", "no"}}));
}

TEST(Jsonl, SftFormats) {
  auto s = load(write_file(
      "sft.jsonl",
      "{\"prompt\": \"p\", \"completion\": \"c\"}\n"
      "{\"messages\": [{\"role\": \"user\", \"content\": \"u1\"}, {\"role\": \"assistant\", "
      "\"content\": \"a1\"}, {\"role\": \"user\", \"content\": \"u2\"}, {\"role\": \"assistant\", "
      "\"content\": \"a2\"}]}\n"
      "{\"text\": \"raw text\"}\n"));
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ(s->at(0).completion, (std::vector<rlhf::Message>{{"assistant", "c"}}));
  Example m = s->at(1);
  EXPECT_EQ(m.prompt.size(), 3u);  // everything before the last assistant turn
  EXPECT_EQ(m.completion, (std::vector<rlhf::Message>{{"assistant", "a2"}}));
  EXPECT_EQ(s->at(2).text.value_or(""), "raw text");
}

TEST(Jsonl, MalformedLineNamesFileLineAndField) {
  auto p = write_file("bad.jsonl", numbered_prefs(2) + "{\"prompt\": \"x\", \"chosen\": \"a\"\n");
  std::string msg = load_error(p);
  EXPECT_NE(msg.find(p.string() + ":3: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;

  auto q = write_file("badfield.jsonl",
                      "{\"prompt\": [{\"role\": \"user\", \"content\": \"x\"}], \"chosen\": "
                      "[{\"role\": \"assistant\"}], \"rejected\": [{\"role\": \"assistant\", "
                      "\"content\": \"b\"}]}\n");
  msg = load_error(q);
  EXPECT_NE(msg.find(q.string() + ":1: field 'chosen[0].content': missing"), std::string::npos)
      << msg;

  auto r = write_file("badrole.jsonl",
                      "{\"chosen\": [{\"role\": \"robot\", \"content\": \"x\"}], \"rejected\": "
                      "[{\"role\": \"assistant\", \"content\": \"b\"}]}\n");
  msg = load_error(r);
  EXPECT_NE(msg.find("field 'chosen[0].role': \"robot\" is not one of"), std::string::npos) << msg;
}

TEST(Jsonl, MissingFields) {
  auto p = write_file("missing.jsonl", "{\"prompt\": \"x\", \"chosen\": \"a\"}\n");
  std::string msg = load_error(p);
  EXPECT_NE(msg.find(p.string() + ":1: field 'rejected': missing"), std::string::npos) << msg;

  auto q = write_file("noprompt.jsonl", "{\"chosen\": \"a\", \"rejected\": \"b\"}\n");
  msg = load_error(q);
  EXPECT_NE(msg.find(q.string() + ":1: field 'prompt': missing"), std::string::npos) << msg;

  auto r = write_file("unknown.jsonl", "{\"question\": \"x\"}\n");
  msg = load_error(r);
  EXPECT_NE(msg.find(r.string() + ":1: no known fields"), std::string::npos) << msg;

  auto t = write_file("mixed.jsonl",
                      "{\"prompt\": \"x\", \"chosen\": [{\"role\": \"assistant\", "
                      "\"content\": \"a\"}], \"rejected\": \"b\"}\n");
  msg = load_error(t);
  EXPECT_NE(msg.find("field 'chosen': expected a string like 'prompt'"), std::string::npos) << msg;
}

TEST(Jsonl, SkipCountsMalformedLines) {
  auto p =
      write_file("skip.jsonl", numbered_prefs(3) + "not json\n{\"prompt\": \"x\"," +
                                   "\"chosen\": 3, \"rejected\": \"b\"}\n" + numbered_prefs(1));
  auto s = load(p, "on_error = \"skip\"\n");
  EXPECT_EQ(s->size(), 4u);
  EXPECT_EQ(s->skipped(), 2u);
  EXPECT_EQ(s->at(3).source, p.string() + ":6");  // line numbers still count skipped lines
}

TEST(Jsonl, EmptyDatasetIsAnError) {
  auto p = write_file("empty.jsonl", "\n  \n");
  std::string msg = load_error(p);
  EXPECT_NE(msg.find(p.string() + ": no records (the file is empty)"), std::string::npos) << msg;
  auto q = write_file("allbad.jsonl", "x\ny\n");
  msg = load_error(q, "on_error = \"skip\"\n");
  EXPECT_NE(msg.find("every one of 2 lines was skipped"), std::string::npos) << msg;
}

TEST(Jsonl, ConfigErrors) {
  auto p = write_file("cfg.jsonl", numbered_prefs(2));
  EXPECT_NE(
      load_error(p, "on_error = \"ignore\"\n").find("'on_error': expected \"error\" or \"skip\""),
      std::string::npos);
  EXPECT_NE(load_error(p, "sample_ratio = 0.0\n").find("'sample_ratio': must be in (0, 1]"),
            std::string::npos);
  EXPECT_NE(load_error(p, "eval_fraction = 1.0\n").find("'eval_fraction': must be in [0, 1)"),
            std::string::npos);
  Config c = Config::parse("path = \"/nonexistent/x.jsonl\"\n", "p.toml");
  try {
    JsonlSource s(c);
    FAIL() << "no error";
  } catch (const rlhf::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'path': file not found: /nonexistent/x.jsonl"),
              std::string::npos)
        << e.what();
  }
}

TEST(Jsonl, EvalSplitIsDeterministicBySeed) {
  auto p = write_file("split.jsonl", numbered_prefs(40));
  auto prompts = [](const JsonlSource& s, Split split) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size(split); ++i) out.push_back(s.at(i, split).prompt[0].content);
    return out;
  };
  auto a = load(p, "eval_fraction = 0.1\n", 7);
  auto b = load(p, "eval_fraction = 0.1\n", 7);
  auto c = load(p, "eval_fraction = 0.1\n", 8);
  EXPECT_EQ(a->size(Split::eval), 4u);  // ceil(0.1 · 40)
  EXPECT_EQ(a->size(Split::train), 36u);
  EXPECT_EQ(prompts(*a, Split::eval), prompts(*b, Split::eval));
  EXPECT_NE(prompts(*a, Split::eval), prompts(*c, Split::eval));
  // The split is a partition of the file.
  std::set<std::string> all;
  for (const auto& x : prompts(*a, Split::eval)) all.insert(x);
  for (const auto& x : prompts(*a, Split::train)) all.insert(x);
  EXPECT_EQ(all.size(), 40u);
}

TEST(Jsonl, SeparateEvalFile) {
  auto p = write_file("train.jsonl", numbered_prefs(5));
  auto q = write_file("eval.jsonl", numbered_prefs(2));
  auto s = load(p, "eval_path = \"" + q.string() + "\"\n");
  EXPECT_EQ(s->size(Split::train), 5u);
  EXPECT_EQ(s->size(Split::eval), 2u);
  EXPECT_EQ(s->at(1, Split::eval).source, q.string() + ":2");
}

TEST(Jsonl, SampleRatioTakesASeededFraction) {
  auto p = write_file("sample.jsonl", numbered_prefs(200));
  auto a = load(p, "sample_ratio = 0.05\n", 3);
  auto b = load(p, "sample_ratio = 0.05\n", 3);
  ASSERT_EQ(a->size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(a->at(i).source, b->at(i).source);
  // Not simply the first lines of the file.
  bool beyond_first_10 = false;
  for (std::size_t i = 0; i < 10; ++i)
    beyond_first_10 |= std::stoi(a->at(i).prompt[0].content.substr(1)) >= 10;
  EXPECT_TRUE(beyond_first_10);
  EXPECT_EQ(load(p, "sample_ratio = 0.001\n")->size(), 1u);  // never empty
}
