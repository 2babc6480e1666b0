// Tokenizer (sentencepiece through the shim) and chat templates.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using rlhf::Message;

namespace {

// A tokenizer trained once per process on the repo corpus, chat markers as single tokens.
const fs::path& tokenizer_dir() {
  static rlhf::test::TempDir dir;
  static const bool trained = [] {
    rlhf::train_sentencepiece_tokenizer(
        rlhf::test::corpus_path(), dir.path(), 400,
        {"<|system|>", "<|user|>", "<|assistant|>", "<|im_start|>", "<|im_end|>"});
    return true;
  }();
  (void)trained;
  return dir.path();
}

const std::vector<Message> kConversation = {{"system", "Be brief."},
                                            {"user", "What is 2+2?"},
                                            {"assistant", "It is 4."},
                                            {"user", "And 3+3?"}};

}  // namespace

TEST(Tokenizer, TrainedDirectoryHasLlamaLayout) {
  const auto& dir = tokenizer_dir();
  ASSERT_TRUE(fs::exists(dir / "tokenizer.model"));
  std::ifstream in(dir / "tokenizer_config.json");
  const auto cfg = nlohmann::json::parse(in);
  EXPECT_EQ(cfg["bos_token"], "<s>");
  EXPECT_EQ(cfg["add_bos_token"], true);
  const auto tok = rlhf::Tokenizer::load(dir);
  EXPECT_EQ(tok->vocab_size(), 400);
  EXPECT_EQ(tok->token_to_id("<unk>"), 0);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->pad_id(), 2) << "no pad token: eos pads";
  // sentencepiece order: <unk> <s> </s>, the 5 user-defined chat markers, then the 256 bytes.
  EXPECT_EQ(tok->token_to_id("<|system|>"), 3);
  EXPECT_EQ(tok->token_to_id("<0x0A>"), 3 + 5 + 10);
  EXPECT_EQ(tok->token_to_id("no-such-piece"), -1);
}

TEST(Tokenizer, EncodeDecodeRoundTrip) {
  const auto tok = rlhf::Tokenizer::load(tokenizer_dir());
  for (const std::string text :
       {"The quick brown fox jumps over the lazy dog.", "What is 12 + 30? It is 42.",
        "Line one\nLine two\n\ttabbed", "Unicode: café, naïve, ☃ and 日本", "  leading spaces"}) {
    const auto ids = tok->encode(text);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), tok->bos_id()) << "add_bos_token defaults to true";
    EXPECT_NE(ids.back(), tok->eos_id());
    EXPECT_EQ(tok->decode(ids), text);
  }
  // Digits are split one per token, as Llama does.
  const auto digits = tok->encode("2024", false, false);
  EXPECT_EQ(tok->decode(digits), "2024");
  EXPECT_GE(digits.size(), 4u);
}

TEST(Tokenizer, SpecialTokensInTextMapToTheirIds) {
  const auto tok = rlhf::Tokenizer::load(tokenizer_dir());
  const auto ids = tok->encode("<s>Hello</s>world", false, false);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), 1);
  const auto eos_at = std::find(ids.begin(), ids.end(), 2);
  ASSERT_NE(eos_at, ids.end());
  // Text between the specials is encoded as usual; after a special no "▁" is prefixed
  // (legacy = false in the trained tokenizer_config.json).
  const std::vector<std::int64_t> hello(ids.begin() + 1, eos_at);
  EXPECT_EQ(tok->decode(hello), "Hello");
  EXPECT_NE(hello, tok->encode("Hello", false, false)) << "at text start \"Hello\" gets the prefix";
  EXPECT_EQ(tok->decode(ids, /*skip_special_tokens=*/false), "<s>Hello</s>world");
  EXPECT_EQ(tok->decode(ids, /*skip_special_tokens=*/true), "Helloworld");
  // User-defined chat markers are single tokens inside text.
  const auto marker = tok->encode("x<|assistant|>y", false, false);
  EXPECT_EQ(std::count(marker.begin(), marker.end(), tok->token_to_id("<|assistant|>")), 1);
  EXPECT_EQ(tok->decode(marker), "x<|assistant|>y");
  // add_bos / add_eos overrides.
  const auto both = tok->encode("hi", true, true);
  EXPECT_EQ(both.front(), 1);
  EXPECT_EQ(both.back(), 2);
}

// The ids of long segments are kept per thread and tokenizer (sdk/src/segment_memo.hpp): what
// comes from the memo equals what a thread that never saw the text computes, and a second
// tokenizer on the same text gets its own ids, not the first one's.
TEST(Tokenizer, RepeatedSegmentsGiveTheIdsOfAFreshEncode) {
  rlhf::test::TempDir other_dir;
  rlhf::train_sentencepiece_tokenizer(rlhf::test::corpus_path(), other_dir.path(), 600,
                                      {"<|user|>", "<|assistant|>"});
  const std::string prompt =
      "<|user|>\nWhat is the capital of France? Answer in one sentence, politely and "
      "clearly.</s>\n<|assistant|>\n";
  const std::string whole = prompt + "The capital of France is Paris. Have a nice day!</s>\n";
  auto fresh = [](const rlhf::Tokenizer& tok, const std::string& text) {
    std::vector<std::int64_t> ids;
    std::thread([&] { ids = tok.encode(text); }).join();  // a new thread: an empty memo
    return ids;
  };
  for (int round = 0; round < 2; ++round) {
    const auto a = rlhf::Tokenizer::load(tokenizer_dir());
    const auto b = rlhf::Tokenizer::load(other_dir.path());
    const auto a_whole = fresh(*a, whole), b_whole = fresh(*b, whole);
    ASSERT_NE(a_whole, b_whole) << "the two tokenizers must differ for this test to say much";
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(a->encode(prompt), fresh(*a, prompt));
      EXPECT_EQ(a->encode(whole), a_whole);
      EXPECT_EQ(b->encode(whole), b_whole);
      EXPECT_EQ(b->encode(prompt), fresh(*b, prompt));
    }
  }  // the second round's tokenizers may reuse the first round's addresses
}

TEST(Tokenizer, ConfigFilesOverrideDefaults) {
  rlhf::test::TempDir dir;
  fs::copy_file(tokenizer_dir() / "tokenizer.model", dir.path() / "tokenizer.model");
  std::ofstream(dir.path() / "tokenizer_config.json")
      << R"({"add_bos_token": false, "add_eos_token": true, "pad_token": {"content": "<unk>"},
            "added_tokens_decoder": {"400": {"content": "<|extra|>", "special": true}}})";
  const auto tok = rlhf::Tokenizer::load(dir.path());
  EXPECT_FALSE(tok->add_bos_token());
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->vocab_size(), 401);
  const auto ids = tok->encode("a<|extra|>b");
  EXPECT_NE(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 400), ids.end());
  // Legacy mode (no "legacy" key): the segment after a special gets its own "▁" prefix.
  const auto after =
      std::vector<std::int64_t>(std::find(ids.begin(), ids.end(), 400) + 1, ids.end() - 1);
  EXPECT_EQ(after, tok->encode("b", false, false));
}

TEST(Tokenizer, MissingModelIsAnError) {
  rlhf::test::TempDir dir;
  EXPECT_THROW(rlhf::Tokenizer::load(dir.path()), rlhf::Error);
}

TEST(ChatTemplate, ZephyrRendersLikeItsJinjaTemplate) {
  const auto t = rlhf::ChatTemplate::get("zephyr");
  EXPECT_EQ(t.render_prompt(kConversation),
            "<|system|>\nBe brief.</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\nIt is 4.</s>\n"
            "<|user|>\nAnd 3+3?</s>\n<|assistant|>\n");
  EXPECT_EQ(t.render_completion({"assistant", "It is 6."}), "It is 6.</s>\n");
}

TEST(ChatTemplate, ChatmlRendersLikeItsJinjaTemplate) {
  const auto t = rlhf::ChatTemplate::get("chatml");
  EXPECT_EQ(t.render_prompt(kConversation),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\nIt is 4.<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(t.render_completion({"assistant", "It is 6."}), "It is 6.<|im_end|>\n");
}

TEST(ChatTemplate, Llama2RendersLikeItsJinjaTemplate) {
  const auto t = rlhf::ChatTemplate::get("llama-2");
  EXPECT_EQ(t.render_prompt(kConversation),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2+2? [/INST] It is 4. </s>"
            "<s>[INST] And 3+3? [/INST]");
  EXPECT_EQ(t.render_completion({"assistant", " It is 6. "}), " It is 6. </s>");
  EXPECT_EQ(t.render_prompt({{"user", "Hi"}}), "<s>[INST] Hi [/INST]");
}

TEST(ChatTemplate, MistralRendersLikeItsJinjaTemplate) {
  const auto t = rlhf::ChatTemplate::get("mistral");
  const std::vector<Message> conv(kConversation.begin() + 1, kConversation.end());
  EXPECT_EQ(t.render_prompt(conv),
            "<s>[INST] What is 2+2? [/INST]It is 4.</s>[INST] And 3+3? [/INST]");
  EXPECT_EQ(t.render_completion({"assistant", "It is 6."}), "It is 6.</s>");
  // A system message is folded into the first user turn.
  EXPECT_EQ(t.render_prompt({{"system", "Be brief."}, {"user", "Hi"}}),
            "<s>[INST] Be brief.\n\nHi [/INST]");
  EXPECT_THROW(t.render_prompt({{"user", "a"}, {"user", "b"}}), rlhf::Error);
}

// Mistral's later spacing, as Mistral's own description of its tokenizers writes it
// (mistral_common, tokenizer V1 for v0.2 and V3 for v0.3):
//   V1: "<s> [INST] user message [/INST] assistant message</s> [INST] new user message [/INST]"
//   V3: "<s>[INST] user message[/INST] assistant message</s>[INST] new user message[/INST]"
// with the system message before the first (V1) or the last (V3) user message.
TEST(ChatTemplate, MistralV02AndV03RenderMistralsSpacing) {
  const std::vector<Message> conv = {
      {"user", "user message"}, {"assistant", "assistant message"}, {"user", "new user message"}};
  const auto v2 = rlhf::ChatTemplate::get("mistral-v0.2");
  EXPECT_EQ(
      v2.render_prompt(conv),
      "<s> [INST] user message [/INST] assistant message</s> [INST] new user message [/INST]");
  EXPECT_EQ(v2.render_completion({"assistant", "It is 6."}), " It is 6.</s>");
  const auto v3 = rlhf::ChatTemplate::get("mistral-v0.3");
  EXPECT_EQ(v3.render_prompt(conv),
            "<s>[INST] user message[/INST] assistant message</s>[INST] new user message[/INST]");
  EXPECT_EQ(v3.render_completion({"assistant", " It is 6. \n"}), " It is 6.</s>");
  std::vector<Message> with_system = conv;
  with_system.insert(with_system.begin(), {"system", "Be brief."});
  EXPECT_EQ(v2.render_prompt(with_system),
            "<s> [INST] Be brief.\n\nuser message [/INST] assistant message</s> [INST] new user "
            "message [/INST]");
  EXPECT_EQ(v3.render_prompt(with_system),
            "<s>[INST] user message[/INST] assistant message</s>[INST] Be brief.\n\nnew user "
            "message[/INST]");
}

TEST(ChatTemplate, NoneConcatenatesAndUnknownNamesAreListed) {
  const auto t = rlhf::ChatTemplate::get("none");
  EXPECT_EQ(t.render_prompt({{"user", "Question: "}}), "Question: ");
  EXPECT_EQ(t.render_completion({"assistant", "answer"}), "answer");
  try {
    rlhf::ChatTemplate::get("alpaca");
    FAIL();
  } catch (const rlhf::Error& e) {
    const std::string msg = e.what();
    for (const auto& n : rlhf::ChatTemplate::names())
      EXPECT_NE(msg.find(n), std::string::npos) << msg;
    EXPECT_NE(msg.find("alpaca"), std::string::npos);
  }
}

TEST(ChatTemplate, EncodeSplitsExactlyWhereTheGenerationPromptEnds) {
  const auto tok = rlhf::Tokenizer::load(tokenizer_dir());
  const std::vector<Message> prompt = {{"user", "What is the capital of France?"}};
  const std::vector<Message> answer = {{"assistant", "The capital of France is Paris."}};
  for (const auto& name : rlhf::ChatTemplate::names()) {
    const auto t = rlhf::ChatTemplate::get(name);
    const auto ids = t.encode(*tok, prompt, answer);
    std::vector<std::int64_t> all = ids.prompt;
    all.insert(all.end(), ids.completion.begin(), ids.completion.end());
    // The concatenation is the tokenization of the whole rendered text (BOS once).
    std::vector<std::int64_t> whole =
        tok->encode(t.render_prompt(prompt) + t.render_completion(answer[0]), false, false);
    if (whole.empty() || whole[0] != tok->bos_id()) whole.insert(whole.begin(), tok->bos_id());
    if (name == "none") whole.push_back(tok->eos_id());
    EXPECT_EQ(all, whole) << name;
    EXPECT_EQ(std::count(all.begin(), all.end(), tok->bos_id()), 1) << name;
    // The completion decodes to the answer (+ end of turn), the prompt to the rendered prompt.
    EXPECT_NE(tok->decode(ids.completion, true).find("Paris."), std::string::npos) << name;
    EXPECT_EQ(tok->decode(ids.prompt, true).find("Paris"), std::string::npos) << name;
    EXPECT_EQ(ids.completion.back(), name == "chatml" || name == "zephyr"
                                         ? tok->encode("\n", false, false).back()
                                         : tok->eos_id())
        << name;
  }
  // zephyr: the prompt ends with "<|assistant|>" "\n" exactly.
  const auto z = rlhf::ChatTemplate::get("zephyr").encode(*tok, prompt, answer);
  EXPECT_EQ(z.prompt[z.prompt.size() - 2], tok->token_to_id("<|assistant|>"));
  EXPECT_EQ(z.prompt.back(), tok->token_to_id("<0x0A>"));
}

// Found by fuzz/chat_template_fuzz: with "none", a prompt ending in "</s>" and an empty
// completion encoded to no completion ids at all (the prompt's EOS was taken for the
// completion's), a row with nothing to train on.
TEST(ChatTemplate, NoneCompletionAlwaysEndsWithItsOwnEos) {
  const auto tok = rlhf::Tokenizer::load(tokenizer_dir());
  const auto none = rlhf::ChatTemplate::get("none");
  const auto empty = none.encode(*tok, {{"user", "hi</s>"}}, {{"assistant", ""}});
  EXPECT_EQ(empty.completion, std::vector<std::int64_t>{tok->eos_id()});
  EXPECT_EQ(empty.prompt.back(), tok->eos_id());
  // A completion that writes its own EOS gets no second one.
  const auto own = none.encode(*tok, {{"user", "hi "}}, {{"assistant", "bye</s>"}});
  ASSERT_FALSE(own.completion.empty());
  EXPECT_EQ(own.completion.back(), tok->eos_id());
  EXPECT_EQ(std::count(own.completion.begin(), own.completion.end(), tok->eos_id()), 1);
}
