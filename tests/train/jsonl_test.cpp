// The "jsonl" data source: every TRL format, errors naming file:line and field, skipping,
// empty data, deterministic eval split and sampling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "jsonl/jsonl_file.hpp"
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

  auto t = write_file("mixed.jsonl", "{\"prompt\": \"x\", \"chosen\": {}, \"rejected\": \"b\"}\n");
  msg = load_error(t);
  EXPECT_NE(msg.find("field 'chosen': expected a string like 'prompt', got object"),
            std::string::npos)
      << msg;
  auto u = write_file("mixed2.jsonl",
                      "{\"prompt\": [{\"role\": \"user\", \"content\": \"x\"}], \"chosen\": "
                      "\"a\", \"rejected\": \"b\"}\n");
  msg = load_error(u);
  EXPECT_NE(msg.find("field 'chosen': expected a list of messages like 'prompt', got a string"),
            std::string::npos)
      << msg;
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

// ---- Layouts people have: UltraFeedback-binarized, column mapping, KTO labels, mixing. ----

namespace {

std::string msg(const std::string& role, const std::string& content) {
  return "{\"role\": \"" + role + "\", \"content\": \"" + content + "\"}";
}

// The same pair as a conversational record and as UltraFeedback-binarized has it.
const std::string kConversational = "{\"prompt\": [" + msg("user", "Is 7 prime?") +
                                    "], \"chosen\": [" + msg("assistant", "Yes.") +
                                    "], \"rejected\": [" + msg("assistant", "No.") + "]}\n";
const std::string kUltraFeedback =
    "{\"prompt\": \"Is 7 prime?\", \"prompt_id\": \"ab12\", \"chosen\": [" +
    msg("user", "Is 7 prime?") + ", " + msg("assistant", "Yes.") + "], \"rejected\": [" +
    msg("user", "Is 7 prime?") + ", " + msg("assistant", "No.") + "], \"messages\": [" +
    msg("user", "Is 7 prime?") + ", " + msg("assistant", "Yes.") +
    "], \"score_chosen\": 8.5, \"score_rejected\": 3}\n";

void expect_same_example(const Example& a, const Example& b) {
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.chosen, b.chosen);
  EXPECT_EQ(a.rejected, b.rejected);
  EXPECT_EQ(a.completion, b.completion);
  EXPECT_EQ(a.conversational, b.conversational);
}

std::vector<std::string> prompts_of(const JsonlSource& s, Split split = Split::train) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size(split); ++i) out.push_back(s.at(i, split).prompt[0].content);
  return out;
}

// Records whose prompt is `tag<i>`, i = 0..n-1 (line i+1).
std::string tagged_prefs(const std::string& tag, int n) {
  std::string text;
  for (int i = 0; i < n; ++i)
    text += "{\"prompt\": \"" + tag + std::to_string(i) +
            "\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
  return text;
}

std::string config_error(const std::string& toml) {
  try {
    Config c = Config::parse(toml, "p.toml");
    JsonlSource s(c);
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(JsonlLayouts, UltraFeedbackIsTheConversationalExample) {
  auto uf = load(write_file("uf.jsonl", kUltraFeedback));
  auto conv = load(write_file("uf_conv.jsonl", kConversational));
  ASSERT_EQ(uf->size(), 1u);
  const Example e = uf->at(0);
  expect_same_example(e, conv->at(0));
  EXPECT_EQ(e.prompt, (std::vector<rlhf::Message>{{"user", "Is 7 prime?"}}));
  EXPECT_EQ(e.chosen, (std::vector<rlhf::Message>{{"assistant", "Yes."}}));
  EXPECT_TRUE(e.conversational);
  // Scalars are extra fields as JSON writes them; lists (messages) are not kept.
  EXPECT_EQ(e.fields,
            (std::map<std::string, std::string>{
                {"prompt_id", "ab12"}, {"score_chosen", "8.5"}, {"score_rejected", "3"}}));
  EXPECT_EQ(e.source, write_file("uf.jsonl", kUltraFeedback).string() + ":1");
}

TEST(JsonlLayouts, UltraFeedbackMultiTurnKeepsTheSharedPrefix) {
  const std::string head =
      msg("user", "hi") + ", " + msg("assistant", "hello") + ", " + msg("user", "bye?");
  auto s = load(write_file("uf_multi.jsonl", "{\"prompt\": \"hi\", \"chosen\": [" + head + ", " +
                                                 msg("assistant", "bye") + "], \"rejected\": [" +
                                                 head + ", " + msg("assistant", "no") + "]}\n"));
  const Example e = s->at(0);
  EXPECT_EQ(e.prompt,
            (std::vector<rlhf::Message>{{"user", "hi"}, {"assistant", "hello"}, {"user", "bye?"}}));
  EXPECT_EQ(e.chosen, (std::vector<rlhf::Message>{{"assistant", "bye"}}));
  EXPECT_EQ(e.rejected, (std::vector<rlhf::Message>{{"assistant", "no"}}));
}

TEST(JsonlLayouts, UltraFeedbackFirstTurnMustBeThePrompt) {
  auto p = write_file("uf_differs.jsonl",
                      kUltraFeedback + "{\"prompt\": \"Is 9 prime?\", \"chosen\": [" +
                          msg("user", "Is 9 prime ?") + ", " + msg("assistant", "No.") +
                          "], \"rejected\": [" + msg("user", "Is 9 prime?") + ", " +
                          msg("assistant", "Yes.") + "]}\n");
  std::string m = load_error(p);
  EXPECT_NE(m.find(p.string() + ":2: field 'chosen[0].content': differs from 'prompt'"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("UltraFeedback layout"), std::string::npos) << m;

  auto q =
      write_file("uf_system.jsonl", "{\"prompt\": \"q\", \"chosen\": [" + msg("user", "q") + ", " +
                                        msg("assistant", "a") + "], \"rejected\": [" +
                                        msg("system", "q") + ", " + msg("assistant", "b") + "]}\n");
  m = load_error(q);
  EXPECT_NE(m.find(q.string() + ":1: field 'rejected[0].role': expected \"user\", got \"system\""),
            std::string::npos)
      << m;
  // Prompt-string with assistant-only lists is neither layout.
  auto r = write_file("uf_answers_only.jsonl", "{\"prompt\": \"q\", \"chosen\": [" +
                                                   msg("assistant", "a") + "], \"rejected\": [" +
                                                   msg("assistant", "b") + "]}\n");
  m = load_error(r);
  EXPECT_NE(m.find(r.string() + ":1: field 'chosen[0].role': expected \"user\""), std::string::npos)
      << m;
}

TEST(JsonlLayouts, ColumnsMapFieldsToRoles) {
  auto p = write_file("mapped.jsonl",
                      "{\"question\": \"2+2?\", \"answer_good\": \"4\", \"answer_bad\": \"5\", "
                      "\"prompt\": \"not the prompt\"}\n");
  auto s = load(p,
                "columns = { prompt = \"question\", chosen = \"answer_good\", rejected = "
                "\"answer_bad\" }\n");
  const Example e = s->at(0);
  EXPECT_EQ(e.prompt, (std::vector<rlhf::Message>{{"user", "2+2?"}}));
  EXPECT_EQ(e.chosen, (std::vector<rlhf::Message>{{"assistant", "4"}}));
  EXPECT_EQ(e.rejected, (std::vector<rlhf::Message>{{"assistant", "5"}}));
  // A field named like a role that was mapped elsewhere is an ordinary extra field.
  EXPECT_EQ(e.fields, (std::map<std::string, std::string>{{"prompt", "not the prompt"}}));

  // Swapping two roles: labels that were recorded the other way round.
  auto swapped = load(p,
                      "columns = { prompt = \"question\", chosen = \"answer_bad\", rejected = "
                      "\"answer_good\" }\n");
  EXPECT_EQ(swapped->at(0).chosen, (std::vector<rlhf::Message>{{"assistant", "5"}}));
  EXPECT_EQ(swapped->at(0).rejected, (std::vector<rlhf::Message>{{"assistant", "4"}}));

  // Mapping onto another role's name: "text" is read as the prompt only.
  auto q = write_file("mapped_text.jsonl", "{\"text\": \"q\", \"completion\": \"c\"}\n");
  const Example t = load(q, "columns = { prompt = \"text\" }\n")->at(0);
  EXPECT_FALSE(t.text.has_value());
  EXPECT_EQ(t.prompt, (std::vector<rlhf::Message>{{"user", "q"}}));
  EXPECT_EQ(t.completion, (std::vector<rlhf::Message>{{"assistant", "c"}}));

  // Messages and conversational fields: errors name the file's own field.
  auto r = write_file("mapped_conv.jsonl", "{\"conversation\": [" + msg("user", "u") + ", " +
                                               msg("assistant", "a") + "]}\n{\"conversation\": [" +
                                               msg("robot", "u") + "]}\n");
  std::string m = load_error(r, "columns = { messages = \"conversation\" }\n");
  EXPECT_NE(m.find(r.string() + ":2: field 'conversation[0].role': \"robot\" is not one of"),
            std::string::npos)
      << m;
}

TEST(JsonlLayouts, ColumnErrorsNameTheKey) {
  auto p = write_file("mapped_missing.jsonl",
                      "{\"question\": \"q\", \"completion\": \"c\"}\n"
                      "{\"prompt\": \"q\", \"completion\": \"c\"}\n");
  std::string m = load_error(p, "columns = { prompt = \"question\" }\n");
  EXPECT_NE(m.find(p.string() + ":2: field 'question': missing (columns.prompt = \"question\")"),
            std::string::npos)
      << m;

  const std::string head = "path = \"" + p.string() + "\"\n";
  m = config_error(head + "columns = { promt = \"question\" }\n");
  EXPECT_NE(m.find("p.toml:2:"), std::string::npos) << m;
  EXPECT_NE(m.find("'columns.promt': unknown role 'promt' (did you mean 'prompt'?); roles: "
                   "prompt, chosen, rejected, completion, messages, text, label, margin"),
            std::string::npos)
      << m;
  m = config_error(head + "columns = { prompt = 3 }\n");
  EXPECT_NE(m.find("'columns.prompt': expected string"), std::string::npos) << m;
  m = config_error(head + "columns = { prompt = \"\" }\n");
  EXPECT_NE(m.find("'columns.prompt': expected the name of a field"), std::string::npos) << m;
  m = config_error(head + "columns = { chosen = \"x\", rejected = \"x\" }\n");
  EXPECT_NE(m.find("'columns.rejected': field 'x' is already read as 'chosen'"), std::string::npos)
      << m;
  m = config_error(head + "columns = \"prompt\"\n");
  EXPECT_NE(m.find("'columns': expected table"), std::string::npos) << m;
}

TEST(JsonlLayouts, KtoLabel) {
  auto p = write_file("kto.jsonl",
                      "{\"prompt\": \"p\", \"completion\": \"good\", \"label\": true}\n"
                      "{\"prompt\": [" +
                          msg("user", "p") + "], \"completion\": [" + msg("assistant", "bad") +
                          "], \"label\": false}\n"
                          "{\"prompt\": \"p\", \"completion\": \"c\"}\n");
  auto s = load(p);
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ(s->at(0).label, std::optional<bool>(true));
  EXPECT_EQ(s->at(0).completion, (std::vector<rlhf::Message>{{"assistant", "good"}}));
  EXPECT_EQ(s->at(1).label, std::optional<bool>(false));
  EXPECT_TRUE(s->at(1).conversational);
  EXPECT_FALSE(s->at(2).label.has_value());
  EXPECT_TRUE(s->at(0).fields.empty());  // the label is not an extra field

  for (const std::string bad : {"1", "\"true\"", "null", "[true]"}) {
    auto q = write_file("kto_bad.jsonl",
                        "{\"prompt\": \"p\", \"completion\": \"c\"}\n"
                        "{\"prompt\": \"p\", \"completion\": \"c\", \"label\": " +
                            bad + "}\n");
    std::string m = load_error(q);
    EXPECT_NE(m.find(q.string() + ":2: field 'label': expected true or false"), std::string::npos)
        << bad << ": " << m;
  }
  // Mapped: a dataset whose label column has another name (and a string "label" kept as a field).
  auto r = write_file("kto_mapped.jsonl",
                      "{\"prompt\": \"p\", \"completion\": \"c\", \"desirable\": false, "
                      "\"label\": \"spam\"}\n");
  const Example e = load(r, "columns = { label = \"desirable\" }\n")->at(0);
  EXPECT_EQ(e.label, std::optional<bool>(false));
  EXPECT_EQ(e.fields.at("label"), "spam");
}

TEST(JsonlMix, FractionsOfEachFileInOrder) {
  auto a = write_file("mix_a.jsonl", tagged_prefs("a", 100));
  auto b = write_file("mix_b.jsonl", tagged_prefs("b", 40));
  const std::string mix = "datasets = [ { path = \"" + a.string() + "\" }, { path = \"" +
                          b.string() + "\", fraction = 0.25 } ]\n";
  auto run = [&](std::uint64_t seed, const std::string& extra = "") {
    Config c = Config::parse(mix + extra, "p.toml");
    auto s = std::make_unique<JsonlSource>(c);
    EXPECT_TRUE(c.unknown_keys().empty());
    s->load(seed);
    return s;
  };
  auto s = run(5);
  ASSERT_EQ(s->size(), 110u);  // 100 + round(0.25 · 40)
  const auto prompts = prompts_of(*s);
  for (std::size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(prompts[i], "a" + std::to_string(i));
    EXPECT_EQ(s->at(i).source, a.string() + ":" + std::to_string(i + 1));
  }
  std::set<std::string> from_b;
  int last = -1;
  for (std::size_t i = 100; i < 110; ++i) {
    const int k = std::stoi(prompts[i].substr(1));
    EXPECT_EQ(prompts[i][0], 'b');
    EXPECT_GT(k, last);  // file order
    last = k;
    EXPECT_EQ(s->at(i).source, b.string() + ":" + std::to_string(k + 1));  // its own line
    from_b.insert(prompts[i]);
  }
  EXPECT_EQ(from_b.size(), 10u);
  EXPECT_EQ(prompts_of(*run(5)), prompts);  // same seed, same rows
  EXPECT_NE(prompts_of(*run(6)), prompts);  // another seed, another subset of b
  // sample_ratio scales every fraction: 50 of a, round(0.25 · 0.5 · 40) = 5 of b.
  auto half = run(5, "sample_ratio = 0.5\n");
  const auto hp = prompts_of(*half);
  ASSERT_EQ(hp.size(), 55u);
  EXPECT_EQ(std::count_if(hp.begin(), hp.end(), [](const std::string& x) { return x[0] == 'a'; }),
            50);
}

TEST(JsonlMix, EvalSplitColumnsAndOnErrorPerFile) {
  auto a = write_file("mixe_a.jsonl", tagged_prefs("a", 40));
  auto b = write_file("mixe_b.jsonl",
                      "{\"q\": \"b0\", \"good\": \"x\", \"bad\": \"y\"}\nnot json\n"
                      "{\"q\": \"b1\", \"good\": \"x\", \"bad\": \"y\"}\n");
  auto b_eval =
      write_file("mixe_b_eval.jsonl", "{\"q\": \"be0\", \"good\": \"x\", \"bad\": \"y\"}\n");
  auto top_eval = write_file("mixe_eval.jsonl", tagged_prefs("e", 3));
  Config c =
      Config::parse("eval_fraction = 0.1\neval_path = \"" + top_eval.string() +
                        "\"\n"
                        "datasets = [ { path = \"" +
                        a.string() + "\" }, { path = \"" + b.string() +
                        "\", columns = { prompt = \"q\", chosen = \"good\", rejected = \"bad\" }, "
                        "on_error = \"skip\", eval_path = \"" +
                        b_eval.string() + "\" } ]\n",
                    "p.toml");
  EXPECT_NE(config_error("eval_fraction = 0.1\neval_path = \"" + top_eval.string() +
                         "\"\npath = \"" + a.string() + "\"\n")
                .find("give either eval_fraction or eval_path"),
            std::string::npos);
  // The top-level eval_fraction and eval_path together are refused for one file, but with
  // `datasets` eval_path is one more eval file and eval_fraction every entry's default.
  JsonlSource s(c);
  EXPECT_TRUE(c.unknown_keys().empty());
  s.load(1);
  EXPECT_EQ(s.skipped(), 1u);
  // a: 4 eval (ceil(0.1 · 40)), 36 train; b: 2 train, its eval file; then the top eval file.
  ASSERT_EQ(s.size(Split::train), 38u);
  ASSERT_EQ(s.size(Split::eval), 4u + 1u + 3u);
  EXPECT_EQ(s.at(36).prompt[0].content, "b0");
  EXPECT_EQ(s.at(37).source, b.string() + ":3");
  EXPECT_EQ(s.at(4, Split::eval).prompt[0].content, "be0");
  EXPECT_EQ(s.at(4, Split::eval).source, b_eval.string() + ":1");
  EXPECT_EQ(s.at(7, Split::eval).source, top_eval.string() + ":3");
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(s.at(i, Split::eval).prompt[0].content[0], 'a');
  // on_error is per file: the same malformed line in a strict entry fails naming file:line.
  Config strict =
      Config::parse("datasets = [ { path = \"" + a.string() + "\" }, { path = \"" + b.string() +
                        "\", columns = { prompt = \"q\", chosen = \"good\", "
                        "rejected = \"bad\" } } ]\n",
                    "p.toml");
  JsonlSource t(strict);
  try {
    t.load(1);
    FAIL() << "no error";
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find(b.string() + ":2: malformed JSON"), std::string::npos)
        << e.what();
  }
}

TEST(JsonlMix, ConfigErrorsNameTheKey) {
  auto a = write_file("mixc_a.jsonl", tagged_prefs("a", 4));
  const std::string entry = "{ path = \"" + a.string() + "\" }";
  std::string m = config_error("datasets = [ " + entry + ", { path = \"" + a.string() +
                               "\", fraction = 0.0 } ]\n");
  EXPECT_NE(m.find("p.toml:1:"), std::string::npos) << m;
  EXPECT_NE(m.find("'datasets[1].fraction': must be in (0, 1]"), std::string::npos) << m;
  m = config_error("datasets = [ { path = \"" + a.string() + "\", fraction = 1.5 } ]\n");
  EXPECT_NE(m.find("'datasets[0].fraction': must be in (0, 1]"), std::string::npos) << m;
  m = config_error("path = \"" + a.string() + "\"\ndatasets = [ " + entry + " ]\n");
  EXPECT_NE(m.find("'path': give either path (one file) or datasets (a mix), not both"),
            std::string::npos)
      << m;
  m = config_error("datasets = []\n");
  EXPECT_NE(m.find("'datasets': is empty"), std::string::npos) << m;
  m = config_error("datasets = [ { fraction = 0.5 } ]\n");
  EXPECT_NE(m.find("'datasets[0].path': required key is missing"), std::string::npos) << m;
  m = config_error("datasets = [ { path = \"/nonexistent/b.jsonl\" } ]\n");
  EXPECT_NE(m.find("'datasets[0].path': file not found: /nonexistent/b.jsonl"), std::string::npos)
      << m;
  m = config_error("datasets = [ { path = \"" + a.string() + "\", sample_ratio = 0.5 } ]\n");
  EXPECT_NE(m.find("'datasets[0].sample_ratio': a dataset's share is 'fraction'"),
            std::string::npos)
      << m;
  m = config_error("datasets = [ { path = \"" + a.string() +
                   "\", columns = { chosn = \"x\" } } ]\n");
  EXPECT_NE(m.find("'datasets[0].columns.chosn': unknown role 'chosn' (did you mean 'chosen'?)"),
            std::string::npos)
      << m;
  m = config_error("datasets = [ { path = \"" + a.string() + "\", on_error = \"ignore\" } ]\n");
  EXPECT_NE(m.find("'datasets[0].on_error': expected \"error\" or \"skip\""), std::string::npos)
      << m;
  // An unknown key of an entry is reported by the host's unknown-key check.
  Config c =
      Config::parse("datasets = [ { path = \"" + a.string() + "\", weight = 0.5 } ]\n", "p.toml");
  JsonlSource s(c);
  ASSERT_EQ(c.unknown_keys().size(), 1u);
  EXPECT_EQ(c.unknown_keys()[0].key_path, "datasets[0].weight");
}

// Blocks of whole lines: lines that cross block boundaries, CRLF, a BOM, blank lines, a last
// line without newline and errors all read as with one block, with the same line numbers.
TEST(JsonlFile, SmallBlocksReadTheSameRecords) {
  std::string text = "\xEF\xBB\xBF" + tagged_prefs("x", 3) + "\r\n  \n" + kUltraFeedback;
  for (int i = 0; i < 30; ++i) {
    std::string line = tagged_prefs("y" + std::string(i * 7, 'z'), 1);
    line.pop_back();
    text += line + "\r\n";
  }
  text += "{\"text\": \"no newline at the end\"}";
  auto p = write_file("blocks.jsonl", text);
  const auto whole = rlhf::jsonl::read_jsonl_file(p, {}, false);
  ASSERT_EQ(whole.examples.size(), 3u + 1u + 30u + 1u);
  for (std::size_t block : {1u, 7u, 64u, 300u}) {
    const auto small = rlhf::jsonl::read_jsonl_file(p, {}, false, block);
    ASSERT_EQ(small.examples.size(), whole.examples.size()) << block;
    for (std::size_t i = 0; i < whole.examples.size(); ++i) {
      expect_same_example(small.examples[i], whole.examples[i]);
      EXPECT_EQ(small.examples[i].text, whole.examples[i].text);
      EXPECT_EQ(small.examples[i].source, whole.examples[i].source) << block;
    }
  }
  EXPECT_EQ(whole.examples[3].source, p.string() + ":6");
  EXPECT_EQ(whole.examples.back().source, p.string() + ":37");
  EXPECT_EQ(whole.examples.back().text.value_or(""), "no newline at the end");
  // The first malformed line by line number is the one reported, whatever the blocks.
  auto q = write_file("blocks_bad.jsonl",
                      tagged_prefs("x", 50) + "{bad\n" + tagged_prefs("x", 10) + "{worse\n");
  for (std::size_t block : {std::size_t{16}, std::size_t{1} << 20}) {
    try {
      rlhf::jsonl::read_jsonl_file(q, {}, false, block);
      FAIL() << "no error";
    } catch (const rlhf::Error& e) {
      EXPECT_NE(std::string(e.what()).find(q.string() + ":51: malformed JSON"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(rlhf::jsonl::read_jsonl_file(q, {}, true, block).skipped, 2u);
  }
}
