// The Jinja subset (sdk/src/jinja/) through ChatTemplate: published chat templates
// (tests/jinja/templates.hpp) render exactly what Jinja2 renders
// (tests/jinja/render_jinja.py: transformers' environment; skipped when python3 has no jinja2,
// Debian's python3-jinja2), unsupported constructs are errors naming the construct and the
// line, chat_template = "auto" finds the model folder's template, and a pipeline runs an SFT
// stage with it through the rlhf-host binary.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "reliability_util.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "temp_dir.hpp"
#include "templates.hpp"

namespace {

using nlohmann::json;
using rlhf::ChatTemplate;
using rlhf::Message;
namespace fs = std::filesystem;

struct Rendered {
  bool ok;
  std::string text;  // or the error
};

struct Case {
  std::vector<Message> messages;
  bool add_generation_prompt;
};

// Jinja2's output for each case (the variables ChatTemplate passes: messages,
// add_generation_prompt, tools/documents None, bos_token, eos_token); nullopt without jinja2.
std::optional<std::vector<Rendered>> render_with_jinja2(const std::string& jinja,
                                                        const std::vector<Case>& cases,
                                                        const std::string& bos,
                                                        const std::string& eos) {
  // Ordered: each message dict has role, then content, as ChatTemplate builds it (tojson).
  nlohmann::ordered_json request;
  request["template"] = jinja;
  request["cases"] = nlohmann::ordered_json::array();
  for (const auto& c : cases) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& m : c.messages) list.push_back({{"role", m.role}, {"content", m.content}});
    request["cases"].push_back({{"messages", list},
                                {"add_generation_prompt", c.add_generation_prompt},
                                {"tools", nullptr},
                                {"documents", nullptr},
                                {"bos_token", bos},
                                {"eos_token", eos}});
  }
  rlhf::test::TempDir dir;
  std::ofstream(dir.path() / "request.json") << request.dump();
  const std::string command = "python3 " + std::string(RLHF_SOURCE_DIR) +
                              "/tests/jinja/render_jinja.py < " +
                              (dir.path() / "request.json").string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
    output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (WIFEXITED(status) && (WEXITSTATUS(status) == 77 || WEXITSTATUS(status) == 127))
    return std::nullopt;  // no jinja2 / no python3
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  std::vector<Rendered> out;
  for (const auto& r : json::parse(output))
    out.push_back(r.contains("text") ? Rendered{true, r["text"].get<std::string>()}
                                     : Rendered{false, r["error"].get<std::string>()});
  return out;
}

const std::vector<std::vector<Message>>& conversations() {
  static const std::vector<std::vector<Message>> all = {
      {{"user", "What is 2+2?"}, {"assistant", "4"}},
      {{"system", "  Be brief.\n"}, {"user", " Hi there \n"}, {"assistant", "Hello!  "}},
      {{"user", "First"},
       {"assistant", " one "},
       {"user", "Second\twith tab?"},
       {"assistant", "two\n\n"}},
      {{"user", "Ünïcödé ✓ and {{ braces }} {% raw %} 'quotes' \"double\""},
       {"assistant", "ok \\n not a newline"}},
      {{"user", "a"}, {"user", "b"}, {"assistant", "roles out of order"}},
  };
  return all;
}

// Every conversation as prompt (with generation prompt) and as a whole (with and without).
void expect_renders_as_jinja2(const char* label, const std::string& text, const std::string& bos,
                              const std::string& eos) {
  SCOPED_TRACE(label);
  const ChatTemplate chat = ChatTemplate::from_jinja_text(text, label, bos, eos);
  std::vector<Case> cases;
  for (const auto& conversation : conversations()) {
    cases.push_back({{conversation.begin(), conversation.end() - 1}, true});
    cases.push_back({conversation, false});
    cases.push_back({conversation, true});
  }
  const auto expected = render_with_jinja2(text, cases, bos, eos);
  if (!expected) GTEST_SKIP() << "python3 with jinja2 (Debian: python3-jinja2) is not installed";
  ASSERT_EQ(expected->size(), cases.size());
  int rendered = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case& c = cases[i];
    const Rendered& want = (*expected)[i];
    auto render = [&] {
      return c.add_generation_prompt ? chat.render_prompt(c.messages)
                                     : chat.render_conversation(c.messages);
    };
    if (want.ok) {
      EXPECT_EQ(render(), want.text);
      ++rendered;
    } else {
      try {
        render();
        ADD_FAILURE() << "Jinja2 raised '" << want.text << "', the subset rendered";
      } catch (const rlhf::Error& e) {
        EXPECT_NE(std::string(e.what()).find(want.text), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GE(rendered, 12);  // most cases render (the errors are the role checks)
}

}  // namespace

TEST(Jinja, ZephyrRendersAsJinja2) {
  expect_renders_as_jinja2("zephyr", rlhf::test::kZephyr, "<s>", "</s>");
}

TEST(Jinja, Qwen25RendersAsJinja2) {
  expect_renders_as_jinja2("qwen2.5", rlhf::test::kQwen25, "", "<|im_end|>");
}

TEST(Jinja, Llama3RendersAsJinja2) {
  expect_renders_as_jinja2("llama-3", rlhf::test::kLlama3, "<|begin_of_text|>", "<|eot_id|>");
}

TEST(Jinja, MistralV03RendersAsJinja2) {
  expect_renders_as_jinja2("mistral-v0.3", rlhf::test::kMistralV03, "<s>", "</s>");
}

TEST(Jinja, EveryConstructRendersAsJinja2) {
  expect_renders_as_jinja2("constructs", rlhf::test::kConstructs, "<s>", "</s>");
}

// Literal expectations that hold without python3: Llama-3's header layout and trim.
TEST(Jinja, Llama3PromptIsTheHeaderLayout) {
  const auto chat = ChatTemplate::from_jinja_text(rlhf::test::kLlama3, "llama-3",
                                                  "<|begin_of_text|>", "<|eot_id|>");
  EXPECT_EQ(chat.render_prompt({{"system", " Be brief. "}, {"user", "Hi"}}),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(chat.render_completion({"assistant", " Hello \n"}), "Hello<|eot_id|>");
  EXPECT_EQ(chat.end_of_turn(), "<|eot_id|>");
  EXPECT_TRUE(chat.is_jinja());
  EXPECT_EQ(chat.jinja(), rlhf::test::kLlama3);
}

TEST(Jinja, EndOfTurnIsWhatFollowsTheAssistantContent) {
  EXPECT_EQ(ChatTemplate::from_jinja_text(rlhf::test::kQwen25, "q", "", "<|im_end|>").end_of_turn(),
            "<|im_end|>");
  EXPECT_EQ(ChatTemplate::from_jinja_text(rlhf::test::kZephyr, "z", "<s>", "</s>").end_of_turn(),
            "</s>");
  EXPECT_EQ(
      ChatTemplate::from_jinja_text(rlhf::test::kMistralV03, "m", "<s>", "</s>").end_of_turn(),
      "</s>");
}

// The error names the origin, the template's line and the construct.
void expect_parse_error(const std::string& text, std::initializer_list<std::string> needles) {
  try {
    ChatTemplate::from_jinja_text(text, "chat template in DIR/tokenizer_config.json", "<s>",
                                  "</s>");
    ADD_FAILURE() << "no error for: " << text;
  } catch (const rlhf::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("chat template in DIR/tokenizer_config.json line "), std::string::npos)
        << what;
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
}

TEST(Jinja, UnsupportedConstructsNameTheConstructAndLine) {
  expect_parse_error("{% for m in messages %}\n{{ m.content }}\n{{ m.content | wordwrap }}\n",
                     {"line 3", "unsupported filter 'wordwrap'"});
  expect_parse_error("x\n{% macro f(a) %}{{ a }}{% endmacro %}", {"line 2", "statement 'macro'"});
  expect_parse_error("\n\n\n{{ '{}'.format(1) }}", {"line 4", "unsupported method 'format'"});
  expect_parse_error("{{ strftime_now('%Y') }}", {"line 1", "unsupported function 'strftime_now'"});
  expect_parse_error("{% if x %}\n{% if y is callable %}{% endif %}{% endif %}",
                     {"line 2", "unsupported test 'callable'"});
  expect_parse_error("a\n{% if x %}\nb\n", {"line 2", "never closed", "endif"});
  expect_parse_error("{{ x ", {"line 1", "never closed"});
  expect_parse_error("{% set x %}y{% endset %}", {"line 1", "set without '='"});
  expect_parse_error("{% include 'other.jinja' %}", {"statement 'include'"});
  expect_parse_error("{{ 1 + }}", {"line 1", "unexpected"});
}

TEST(Jinja, RaiseExceptionAndTypeErrorsNameTheLine) {
  const auto chat = ChatTemplate::from_jinja_text(
      "{% for m in messages %}\n{% if m.role == 'tool' %}\n{{ raise_exception('no tools here') "
      "}}\n{% endif %}{{ m.content + 1 }}{% endfor %}",
      "tpl", "<s>", "</s>");
  try {
    chat.render_prompt({{"tool", "x"}});
    ADD_FAILURE();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tpl line 3: the template raised an exception: no tools "
                                         "here"),
              std::string::npos)
        << e.what();
  }
  try {
    chat.render_prompt({{"user", "x"}});
    ADD_FAILURE();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tpl line 4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("string and integer"), std::string::npos) << e.what();
  }
}

namespace {

fs::path folder_with(const fs::path& dir, const json& config,
                     const std::optional<std::string>& jinja_file = std::nullopt) {
  fs::create_directories(dir);
  if (!config.is_null()) std::ofstream(dir / "tokenizer_config.json") << config.dump(2);
  if (jinja_file) std::ofstream(dir / "chat_template.jinja") << *jinja_file;
  return dir;
}

}  // namespace

TEST(Jinja, AutoTakesTheFolderTemplate) {
  rlhf::test::TempDir tmp;
  // One of ours (a folder rlhf-host saved) is that named template.
  auto ours =
      folder_with(tmp.path() / "ours", {{"chat_template", ChatTemplate::get("chatml").jinja()}});
  EXPECT_EQ(ChatTemplate::for_model("auto", ours).name(), "chatml");
  EXPECT_FALSE(ChatTemplate::for_model("auto", ours).is_jinja());
  // Any other text is rendered as Jinja with the folder's special tokens (an AddedToken object;
  // special_tokens_map.json when the config has none).
  auto other =
      folder_with(tmp.path() / "other", {{"chat_template",
                                          "{{ bos_token }}|{{ eos_token }}|{% for m in "
                                          "messages %}{{ m.content }}{% endfor %}"},
                                         {"bos_token", {{"content", "<|b|>"}, {"lstrip", false}}}});
  std::ofstream(other / "special_tokens_map.json") << R"({"eos_token": "<|e|>"})";
  const auto t = ChatTemplate::for_model("auto", other);
  EXPECT_TRUE(t.is_jinja());
  EXPECT_EQ(t.name(), "auto");
  EXPECT_EQ(t.render_prompt({{"user", "hi"}}), "<|b|>|<|e|>|hi");
  // chat_template.jinja when tokenizer_config.json has none; a list of named templates: "default".
  auto file =
      folder_with(tmp.path() / "file", json::object(), std::string("F{{ messages|length }}"));
  EXPECT_EQ(ChatTemplate::for_model("auto", file).render_prompt({{"user", "a"}}), "F1");
  auto listed =
      folder_with(tmp.path() / "listed",
                  {{"chat_template", json::array({{{"name", "tool_use"}, {"template", "T"}},
                                                  {{"name", "default"}, {"template", "D"}}})}});
  EXPECT_EQ(ChatTemplate::for_model("auto", listed).render_prompt({{"user", "a"}}), "D");
  // No template: "none". A name wins over the folder's.
  auto bare = folder_with(tmp.path() / "bare", json::object());
  EXPECT_EQ(ChatTemplate::for_model("auto", bare).name(), "none");
  EXPECT_EQ(ChatTemplate::for_model("zephyr", other).name(), "zephyr");
  // A template the subset cannot run: the file and the line.
  auto bad = folder_with(tmp.path() / "bad", {{"chat_template", "ok\n{{ x | wordwrap }}"}});
  try {
    ChatTemplate::for_model("auto", bad);
    ADD_FAILURE();
  } catch (const rlhf::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find((bad / "tokenizer_config.json").string() + " line 2"), std::string::npos)
        << what;
    EXPECT_NE(what.find("wordwrap"), std::string::npos) << what;
  }
}

// Mistral v0.3 writes the system message into the last user turn only: the prompt of a
// conversation with a system message is not a prefix of the whole conversation. encode says so.
TEST(Jinja, PromptThatIsNotAPrefixIsAnErrorNamingTheTemplate) {
  const auto chat = ChatTemplate::from_jinja_text(
      rlhf::test::kMistralV03, "chat template in M/tokenizer_config.json", "<s>", "</s>");
  const std::vector<Message> prompt = {{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(chat.render_prompt(prompt), "<s>[INST] S\n\nU[/INST]");
  EXPECT_EQ(chat.render_conversation({prompt[0], prompt[1], {"assistant", "A"}}),
            "<s>[INST] U[/INST] A</s>");
  const auto tokenizer = rlhf::Tokenizer::load(rlhf::reliability::tiny_model());
  try {
    chat.encode(*tokenizer, prompt, {{"assistant", "A"}});
    ADD_FAILURE() << "no error";
  } catch (const rlhf::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("chat template in M/tokenizer_config.json: the rendered prompt is not a "
                        "prefix"),
              std::string::npos)
        << what;
  }
  // Without a system message it is: the ids are the whole conversation's, split after "[/INST]".
  const std::vector<Message> user_only = {{"user", "What is 2+2?"}};
  const auto ids = chat.encode(*tokenizer, user_only, {{"assistant", "4"}});
  std::vector<std::int64_t> all = ids.prompt;
  all.insert(all.end(), ids.completion.begin(), ids.completion.end());
  EXPECT_EQ(all, tokenizer->encode("<s>[INST] What is 2+2?[/INST] 4</s>", false, false));
  EXPECT_EQ(ids.prompt, tokenizer->encode("<s>[INST] What is 2+2?[/INST]", false, false));
  EXPECT_EQ(ids.completion.back(), tokenizer->eos_id());
}

namespace rel = rlhf::reliability;

namespace {

// The tiny model with `template_text` as its tokenizer_config.json chat_template, and a
// one-stage SFT pipeline on it with `model_keys` in [model].
fs::path pipeline_on_template(const fs::path& dir, const std::string& template_text,
                              const std::string& model_keys) {
  const fs::path model = rel::copy_of_tiny_model(dir / "model");
  std::ifstream in(model / "tokenizer_config.json");
  json config = json::parse(in);
  config["chat_template"] = template_text;
  std::ofstream(model / "tokenizer_config.json") << config.dump(2);
  std::ostringstream toml;
  toml << "[run]\noutput_dir = \"" << (dir / "run").string() << "\"\nseed = 1\nthreads = 1\n"
       << "[model]\npath = \"" << model.string() << "\"\n"
       << model_keys << "\n[[stage]]\n"
       << rel::sft_stage(rel::sft_data().string()) << "\n";
  rel::write_file(dir / "pipeline.toml", toml.str());
  return dir / "pipeline.toml";
}

}  // namespace

TEST(JinjaBinary, AutoRunsAnSftStageWithTheFolderTemplate) {
  rlhf::test::TempDir dir;
  // The default chat_template is "auto".
  const fs::path pipeline = pipeline_on_template(dir.path(), rlhf::test::kQwen25, "");
  const auto r = rel::run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // The saved folder keeps the model's own template (it is what the stage trained on).
  const fs::path saved = dir.path() / "run" / "sft" / "model";
  ASSERT_TRUE(fs::exists(saved / "tokenizer_config.json")) << r.describe();
  std::ifstream in(saved / "tokenizer_config.json");
  EXPECT_EQ(json::parse(in)["chat_template"], rlhf::test::kQwen25);
}

TEST(JinjaBinary, TheStageRendersTheFolderTemplate) {
  rlhf::test::TempDir dir;
  // A template that refuses every generation prompt: the stage reaches it, the error names it.
  const fs::path pipeline = pipeline_on_template(
      dir.path(),
      "{% for m in messages %}{{ m.content }}{% endfor %}\n{% if add_generation_prompt %}{{ "
      "raise_exception('no prompts please') }}{% endif %}",
      "chat_template = \"auto\"");
  const auto r = rel::run_host({pipeline.string()}, dir.path(), 300);
  rel::expect_error(r, {"tokenizer_config.json line 2", "no prompts please"});
}

TEST(JinjaBinary, AnUnsupportedTemplateFailsBeforeTheRun) {
  rlhf::test::TempDir dir;
  const fs::path pipeline =
      pipeline_on_template(dir.path(), "{% for m in messages %}\n{% call x() %}{% endcall %}\n",
                           "chat_template = \"auto\"");
  const auto r = rel::run_host({pipeline.string()}, dir.path(), 300);
  rel::expect_error(r, {"chat_template", "tokenizer_config.json line 2", "statement 'call'"});
  EXPECT_FALSE(fs::exists(dir.path() / "run" / "sft" / "model"));
}
