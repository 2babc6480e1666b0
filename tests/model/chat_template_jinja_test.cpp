// ChatTemplate::jinja() rendered by Jinja the way transformers' apply_chat_template renders it
// (tests/model/render_chat_template.py: ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks) equals the C++ renderer, prompt and whole conversation, for every template;
// role errors are errors in both. Skipped when python3 has no jinja2.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "temp_dir.hpp"

namespace {

using nlohmann::json;
using rlhf::Message;

struct Rendered {
  bool ok;
  std::string text;  // or the error
};

// Renders `conversations` (each with its add_generation_prompt) with Python's Jinja; exit 77
// of the script (no jinja2) → nullopt.
std::optional<std::vector<Rendered>> render_with_jinja(
    const std::string& jinja, const std::vector<std::pair<std::vector<Message>, bool>>& cases) {
  json request;
  request["template"] = jinja;
  request["cases"] = json::array();
  for (const auto& [messages, add_generation_prompt] : cases) {
    json list = json::array();
    for (const auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
    request["cases"].push_back(
        {{"messages", list}, {"add_generation_prompt", add_generation_prompt}});
  }
  rlhf::test::TempDir dir;
  std::ofstream(dir.path() / "request.json") << request.dump();
  const std::string command = "python3 " + std::string(RLHF_SOURCE_DIR) +
                              "/tests/model/render_chat_template.py < " +
                              (dir.path() / "request.json").string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
    output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return std::nullopt;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  std::vector<Rendered> out;
  for (const auto& r : json::parse(output))
    out.push_back(r.contains("text") ? Rendered{true, r["text"].get<std::string>()}
                                     : Rendered{false, r["error"].get<std::string>()});
  return out;
}

// Conversations ending with an assistant reply: the prompt is every message before it.
const std::vector<std::vector<Message>>& conversations() {
  static const std::vector<std::vector<Message>> all = {
      {{"user", "What is 2+2?"}, {"assistant", "4"}},
      {{"system", "  Be brief.\n"}, {"user", " Hi there \n"}, {"assistant", "Hello!  "}},
      {{"system", ""}, {"user", "x"}, {"assistant", "y"}},
      {{"user", "First"},
       {"assistant", " one "},
       {"user", "Second\twith tab"},
       {"assistant", "two\n\n"}},
      {{"user", "Ünïcödé ✓ and {{ braces }} {% raw %} 'quotes' \"double\""},
       {"assistant", "ok \\n not a newline"}},
  };
  return all;
}

}  // namespace

TEST(ChatTemplateJinja, RendersExactlyWhatTheCppRendererWrites) {
  for (const auto& name : rlhf::ChatTemplate::names()) {
    const auto chat = rlhf::ChatTemplate::get(name);
    std::vector<std::pair<std::vector<Message>, bool>> cases;
    std::vector<std::string> expected;
    for (const auto& conversation : conversations()) {
      const std::vector<Message> prompt(conversation.begin(), conversation.end() - 1);
      // The prompt with its generation prompt, and the whole conversation without one (the
      // prompt's turns followed by the reply as the completion renders it).
      cases.push_back({prompt, true});
      expected.push_back(chat.render_prompt(prompt));
      cases.push_back({conversation, false});
      expected.push_back(chat.render_prompt(prompt) + chat.render_completion(conversation.back()));
    }
    const auto rendered = render_with_jinja(chat.jinja(), cases);
    if (!rendered) GTEST_SKIP() << "python3 with jinja2 is not available";
    ASSERT_EQ(rendered->size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      ASSERT_TRUE((*rendered)[i].ok) << name << " case " << i << ": " << (*rendered)[i].text;
      EXPECT_EQ((*rendered)[i].text, expected[i]) << name << " case " << i;
    }
  }
}

TEST(ChatTemplateJinja, RolesOutOfOrderFailInBoth) {
  const std::vector<Message> two_users = {{"user", "a"}, {"user", "b"}};
  const std::vector<Message> system_late = {{"user", "a"}, {"system", "s"}};
  for (const char* name : {"llama-2", "mistral", "mistral-v0.2", "mistral-v0.3"}) {
    const auto chat = rlhf::ChatTemplate::get(name);
    const auto rendered = render_with_jinja(chat.jinja(), {{two_users, true}, {system_late, true}});
    if (!rendered) GTEST_SKIP() << "python3 with jinja2 is not available";
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_FALSE((*rendered)[i].ok) << name << " " << (*rendered)[i].text;
      EXPECT_NE((*rendered)[i].text.find("roles must alternate"), std::string::npos);
    }
    EXPECT_THROW(chat.render_prompt(two_users), rlhf::Error);
    EXPECT_THROW(chat.render_prompt(system_late), rlhf::Error);
  }
}

TEST(ChatTemplateJinja, EachTemplateIsFoundByItsJinjaAndNamesItsEndOfTurn) {
  for (const auto& name : rlhf::ChatTemplate::names()) {
    const auto found = rlhf::ChatTemplate::from_jinja(rlhf::ChatTemplate::get(name).jinja());
    ASSERT_TRUE(found.has_value()) << name;
    EXPECT_EQ(found->name(), name);
  }
  EXPECT_FALSE(rlhf::ChatTemplate::from_jinja("{{ messages }}").has_value());
  // The end of an assistant turn is what render_completion ends with (minus chatml's newline).
  for (const auto& name : rlhf::ChatTemplate::names()) {
    const auto chat = rlhf::ChatTemplate::get(name);
    const std::string completion = chat.render_completion({"assistant", "x"});
    const std::string end = chat.end_of_turn();
    if (name == "none") {
      EXPECT_EQ(end, "");
      continue;
    }
    EXPECT_NE(completion.find(end), std::string::npos) << name;
    EXPECT_LE(completion.size() - (completion.rfind(end) + end.size()), 1u) << name;
  }
  EXPECT_EQ(rlhf::ChatTemplate::get("chatml").end_of_turn(), "<|im_end|>");
  EXPECT_EQ(rlhf::ChatTemplate::get("zephyr").end_of_turn(), "</s>");
}
