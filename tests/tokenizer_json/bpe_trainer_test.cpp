// train_byte_level_bpe_tokenizer (sdk/src/bpe_trainer.cpp, what `init-model --family llama3|qwen2`
// writes) on a corpus small enough to train by hand, read back by the tokenizer.json loader.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "temp_dir.hpp"

namespace {

using json = nlohmann::json;

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// The corpus line "ab ab ab" (+ its newline) splits (Llama-3's pattern) into the words "ab",
// " ab" twice and "\n". In GPT-2's byte symbols the space is "Ġ" (U+0120). Pair counts: (a, b)
// 3, (Ġ, a) 2 → merge "a b" (id 256); then (Ġ, ab) 2 → merge "Ġ ab" (id 257); then every pair
// occurs once and training stops, well below vocab_size. The five Llama-3 special tokens follow
// as ids 258–262.
TEST(BpeTrainer, MergesTheMostFrequentPairUntilNoneRepeats) {
  rlhf::test::TempDir dir;
  std::ofstream(dir.path() / "corpus.txt") << "ab ab ab\n";
  rlhf::train_byte_level_bpe_tokenizer(dir.path() / "corpus.txt", dir.path() / "tok", 1000,
                                       "llama3", "{{ messages }}");
  const json tj = read_json(dir.path() / "tok" / "tokenizer.json");
  EXPECT_EQ(tj["model"]["merges"], json::parse(R"([["a", "b"], ["\u0120", "ab"]])"));
  EXPECT_EQ(tj["model"]["vocab"].size(), 258u);
  EXPECT_EQ(tj["model"]["vocab"]["\u0120ab"], 257);
  EXPECT_EQ(tj["model"]["vocab"]["\u0120"], 32);  // byte 32 (space) → its stand-in, id = byte
  EXPECT_EQ(tj["added_tokens"][0]["content"], "<|begin_of_text|>");
  EXPECT_EQ(tj["added_tokens"][0]["id"], 258);
  EXPECT_EQ(tj["added_tokens"][4]["content"], "<|eot_id|>");
  const json config = read_json(dir.path() / "tok" / "tokenizer_config.json");
  EXPECT_EQ(config["chat_template"], "{{ messages }}");

  const auto tok = rlhf::Tokenizer::load(dir.path() / "tok");
  EXPECT_EQ(tok->vocab_size(), 263);
  EXPECT_EQ(tok->bos_id(), 258);
  EXPECT_EQ(tok->eos_id(), 262);
  EXPECT_TRUE(tok->add_bos_token());  // the TemplateProcessing post-processor adds it
  EXPECT_EQ(tok->encode(" ab ab", false, false), (std::vector<std::int64_t>{257, 257}));
  EXPECT_EQ(tok->encode("ab", true, false), (std::vector<std::int64_t>{258, 256}));
  EXPECT_EQ(tok->encode("ba", false, false), (std::vector<std::int64_t>{98, 97}));
  EXPECT_EQ(tok->encode("x<|eot_id|>", false, false), (std::vector<std::int64_t>{120, 262}));
  const std::string text = "Grüße, ab 😀 ab!\n";
  EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text);
}

TEST(BpeTrainer, Qwen2LayoutHasNoBosAndNfc) {
  rlhf::test::TempDir dir;
  std::ofstream(dir.path() / "corpus.txt") << "ab ab ab\n";
  rlhf::train_byte_level_bpe_tokenizer(dir.path() / "corpus.txt", dir.path() / "tok", 1000,
                                       "qwen2");
  const json tj = read_json(dir.path() / "tok" / "tokenizer.json");
  EXPECT_EQ(tj["normalizer"]["type"], "NFC");
  EXPECT_EQ(tj["added_tokens"][0]["content"], "<|endoftext|>");
  const auto tok = rlhf::Tokenizer::load(dir.path() / "tok");
  EXPECT_EQ(tok->bos_id(), -1);
  EXPECT_FALSE(tok->add_bos_token());
  EXPECT_EQ(tok->eos_id(), tok->token_to_id("<|im_end|>"));
  EXPECT_EQ(tok->pad_id(), tok->token_to_id("<|endoftext|>"));
  // NFC: a decomposed "é" (e + U+0301) encodes as the composed one.
  EXPECT_EQ(tok->encode("e\u0301", false, false), tok->encode("\u00e9", false, false));
}

TEST(BpeTrainer, RefusesAnUnknownFamilyAndATooSmallVocabulary) {
  rlhf::test::TempDir dir;
  std::ofstream(dir.path() / "corpus.txt") << "ab ab ab\n";
  EXPECT_THROW(rlhf::train_byte_level_bpe_tokenizer(dir.path() / "corpus.txt", dir.path() / "t",
                                                    1000, "gpt2"),
               rlhf::Error);
  try {
    rlhf::train_byte_level_bpe_tokenizer(dir.path() / "corpus.txt", dir.path() / "t", 260,
                                         "llama3");
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size 260"), std::string::npos) << e.what();
  }
  EXPECT_THROW(rlhf::train_byte_level_bpe_tokenizer(dir.path() / "missing.txt", dir.path() / "t",
                                                    1000, "llama3"),
               rlhf::Error);
}

}  // namespace
