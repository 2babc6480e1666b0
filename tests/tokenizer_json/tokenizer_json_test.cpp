// tokenizer.json byte-level BPE (sdk/src/bpe_tokenizer.cpp) against an independent reference.
//
// Provenance of the expected values: llama3/ and qwen2/ (a 658-token byte-level BPE with
// Llama-3's and Qwen2's tokenizer.json layouts) and expected_ids.inc were written by
//     python3 tests/tokenizer_json/make_fixtures.py
// (Debian python3 + python3-regex). Its reference encoder follows OpenAI's GPT-2 encoder.py
// (the `regex` module's \p{L}/\p{N} for the split patterns, encoder.py's bigram loop for the
// merges) and shares no code with the C++ tokenizer. Hugging Face `tokenizers` is not
// installable here, so the reference is that script, not `tokenizers` itself.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/tokenizer_files.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using Ids = std::vector<std::int64_t>;

namespace {

#include "expected_ids.inc"

const fs::path kFixtures = fs::path(RLHF_SOURCE_DIR) / "tests" / "tokenizer_json";

const rlhf::Tokenizer& llama3() {
  static const auto tok = rlhf::Tokenizer::load(kFixtures / "llama3");
  return *tok;
}
const rlhf::Tokenizer& qwen2() {
  static const auto tok = rlhf::Tokenizer::load(kFixtures / "qwen2");
  return *tok;
}

// make_fixtures.py's stress_megabyte(): the stress strings in the order i*7 mod n until 1 MiB.
std::string stress_megabyte() {
  std::string text;
  const std::size_t n = kExpectedIds.size();
  for (std::size_t i = 0; text.size() < (1u << 20); ++i)
    text += kExpectedIds[(i * kStressOrderStep) % n].text;
  return text;
}

std::uint64_t ids_hash(const Ids& ids) {
  std::uint64_t h = 0;
  for (const auto id : ids) h = h * 1000003u + static_cast<std::uint64_t>(id);
  return h;
}

// A copy of a fixture folder whose tokenizer.json (or tokenizer_config.json) `edit` changes.
struct EditedCopy {
  rlhf::test::TempDir dir{"rlhf-tokjson"};
  EditedCopy(const char* fixture, const std::function<void(nlohmann::json&)>& edit,
             const char* file = "tokenizer.json") {
    for (const auto& e : fs::directory_iterator(kFixtures / fixture))
      fs::copy_file(e.path(), dir / e.path().filename().string());
    std::ifstream in(dir / file);
    auto j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(dir / file) << j.dump();
  }
};

std::string load_error(const fs::path& dir) {
  try {
    rlhf::Tokenizer::load(dir);
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "(loaded)";
}

}  // namespace

TEST(TokenizerJson, IdsEqualTheReferenceOnEveryStressString) {
  for (const auto& e : kExpectedIds) {
    EXPECT_EQ(llama3().encode(e.text, false, false), e.llama3) << "llama3: " << e.name;
    EXPECT_EQ(qwen2().encode(e.text, false, false), e.qwen2) << "qwen2: " << e.name;
  }
}

TEST(TokenizerJson, Gpt2ByteLevelRegexIdsEqualTheReference) {
  EditedCopy gpt2("llama3", [](auto& j) {
    j["pre_tokenizer"] = {{"type", "ByteLevel"},
                          {"add_prefix_space", false},
                          {"trim_offsets", true},
                          {"use_regex", true}};
  });
  const auto tok = rlhf::Tokenizer::load(gpt2.dir.path());
  for (const auto& e : kExpectedIds) {
    EXPECT_EQ(tok->encode(e.text, false, false), e.gpt2) << e.name;
    EXPECT_EQ(tok->decode(tok->encode(e.text, false, false), false), e.text) << e.name;
  }
}

TEST(TokenizerJson, DecodeOfEncodeIsTheText) {
  for (const auto& e : kExpectedIds) {
    EXPECT_EQ(llama3().decode(llama3().encode(e.text, false, false), false), e.text) << e.name;
    // Qwen2 normalizes to NFC: the decomposed string comes back composed.
    if (std::string(e.name) != "decomposed") {
      EXPECT_EQ(qwen2().decode(qwen2().encode(e.text, false, false), false), e.text) << e.name;
    }
  }
  EXPECT_EQ(qwen2().decode(qwen2().encode("cafe\xcc\x81", false, false)), "caf\xc3\xa9");
  // Bytes that are not UTF-8 pass through the byte-level symbols unchanged.
  const std::string raw =
      "\xff\xfe"
      "ab\xc3 \x80z\xe2\x82";
  EXPECT_EQ(llama3().decode(llama3().encode(raw, false, false)), raw);
}

TEST(TokenizerJson, MegabyteStressTextRoundTripsWithTheReferenceIds) {
  const std::string text = stress_megabyte();
  ASSERT_EQ(text.size(), kMegabyteBytes);
  const Ids l = llama3().encode(text, false, false);
  EXPECT_EQ(l.size(), kLlama3MegabyteCount);
  EXPECT_EQ(ids_hash(l), kLlama3MegabyteHash);
  EXPECT_EQ(llama3().decode(l, false), text);
  const Ids q = qwen2().encode(text, false, false);
  EXPECT_EQ(q.size(), kQwen2MegabyteCount);
  EXPECT_EQ(ids_hash(q), kQwen2MegabyteHash);
}

TEST(TokenizerJson, SpecialTokensFromTheConfigAndThePostProcessor) {
  // Llama-3: no add_bos_token in the config; the post_processor template starts with BOS.
  EXPECT_TRUE(llama3().add_bos_token());
  EXPECT_FALSE(llama3().add_eos_token());
  EXPECT_EQ(llama3().bos_id(), 658);  // first added token after the 658 vocabulary tokens
  EXPECT_EQ(llama3().eos_id(), 662);  // <|eot_id|>
  EXPECT_EQ(llama3().pad_id(), 662);  // no pad token: eos
  EXPECT_EQ(llama3().vocab_size(), 663);
  EXPECT_EQ(llama3().token_to_id("<|eot_id|>"), 662);
  EXPECT_EQ(llama3().token_to_id("\xc4\xa0strawberry"), 656);  // "Ġstrawberry"
  EXPECT_EQ(llama3().token_to_id("nonsense-token"), -1);
  const Ids ids = llama3().encode("Hi");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids.front(), 658);
  EXPECT_EQ(llama3().encode("Hi", false, true).back(), 662);
  // Skipped when decoding by default; kept on request.
  EXPECT_EQ(llama3().decode(llama3().encode("<|eot_id|>Hi<|eot_id|>")), "Hi");
  EXPECT_EQ(llama3().decode(llama3().encode("Hi<|eot_id|>", false, false), false), "Hi<|eot_id|>");
  // Qwen2: bos_token null, pad <|endoftext|>, eos <|im_end|>.
  EXPECT_FALSE(qwen2().add_bos_token());
  EXPECT_EQ(qwen2().bos_id(), -1);
  EXPECT_EQ(qwen2().eos_id(), 660);
  EXPECT_EQ(qwen2().pad_id(), 658);
  EXPECT_EQ(qwen2().encode("Hi"), qwen2().encode("Hi", false, false));
}

TEST(TokenizerJson, IgnoreMergesTakesAWholeWordFromTheVocabulary) {
  // " strawberry" is a vocabulary token no merge makes: one id with ignore_merges (llama3),
  // merged pieces without (qwen2, same vocabulary and merges).
  EXPECT_EQ(llama3().encode(" strawberry", false, false), Ids{656});
  const Ids q = qwen2().encode(" strawberry", false, false);
  EXPECT_GT(q.size(), 1u);
  EXPECT_EQ(qwen2().decode(q), " strawberry");
}

TEST(TokenizerJson, SplitPatternsDifferInDigitGroups) {
  // Llama-3 groups up to three digits, Qwen2 one: same vocabulary, different piece counts.
  EXPECT_EQ(llama3().decode(llama3().encode("1234567", false, false)), "1234567");
  EXPECT_EQ(qwen2().encode("1234567", false, false).size(), 7u);
  EXPECT_LE(llama3().encode("1234567", false, false).size(), 5u);
}

TEST(TokenizerJson, SavedFolderReloadsTheSameTokenizer) {
  // What an adapter (or model) folder saved from a tokenizer.json model gets next to it.
  for (const char* fixture : {"llama3", "qwen2"}) {
    rlhf::test::TempDir saved("rlhf-tokjson");
    rlhf::complete_saved_folder(saved.path(), rlhf::SavedFolder::adapter, kFixtures / fixture,
                                std::nullopt);
    ASSERT_TRUE(fs::exists(saved / "tokenizer.json")) << fixture;
    const auto back = rlhf::Tokenizer::load(saved.path());
    const auto& orig = std::string(fixture) == "llama3" ? llama3() : qwen2();
    EXPECT_EQ(back->bos_id(), orig.bos_id()) << fixture;
    EXPECT_EQ(back->eos_id(), orig.eos_id()) << fixture;
    EXPECT_EQ(back->pad_id(), orig.pad_id()) << fixture;
    EXPECT_EQ(back->add_bos_token(), orig.add_bos_token()) << fixture;
    for (const auto& e : kExpectedIds)
      EXPECT_EQ(back->encode(e.text), orig.encode(e.text)) << fixture;
  }
}

TEST(TokenizerJson, TokenizerModelWinsOverTokenizerJson) {
  // A Llama-2 folder carries both files: sentencepiece reads tokenizer.model.
  rlhf::test::TempDir dir("rlhf-tokjson");
  rlhf::train_sentencepiece_tokenizer(fs::path(RLHF_SOURCE_DIR) / "examples/data/polite_corpus.txt",
                                      dir / "tok", 400);
  fs::copy_file(kFixtures / "llama3" / "tokenizer.json", dir / "tok" / "tokenizer.json");
  const auto tok = rlhf::Tokenizer::load(dir / "tok");
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->vocab_size(), 400);  // sentencepiece's, not the 663 of tokenizer.json
}

TEST(TokenizerJson, NoTokenizerFileIsAClearError) {
  rlhf::test::TempDir dir("rlhf-tokjson");
  EXPECT_NE(load_error(dir.path()).find("tokenizer.model not found (nor tokenizer.json)"),
            std::string::npos);
}

TEST(TokenizerJson, UnsupportedSettingsAreRefusedNamingTheField) {
  struct Case {
    const char* fixture;
    std::function<void(nlohmann::json&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"llama3", [](auto& j) { j["model"]["type"] = "WordPiece"; },
       "'model.type' is 'WordPiece': only byte-level BPE"},
      {"llama3", [](auto& j) { j["model"]["type"] = "Unigram"; }, "'model.type' is 'Unigram'"},
      {"llama3", [](auto& j) { j["model"]["byte_fallback"] = true; }, "'model.byte_fallback'"},
      {"qwen2", [](auto& j) { j["normalizer"]["type"] = "NFKC"; },
       "'normalizer.type' is 'NFKC': only NFC"},
      {"llama3",
       [](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+"; },
       "'pre_tokenizer.pretokenizers[0].pattern.Regex' is not a supported split pattern"},
      {"llama3",
       [](auto& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       },
       "'pre_tokenizer.type' is 'Whitespace'"},
      {"llama3", [](auto& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; },
       "'pre_tokenizer.pretokenizers[1].add_prefix_space' is true"},
      {"llama3",
       [](auto& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "'decoder.type' is 'WordPiece'"},
      {"llama3", [](auto& j) { j["added_tokens"][2]["lstrip"] = true; },
       "'added_tokens[2].lstrip' is true"},
      {"llama3",
       [](auto& j) {
         j["model"]["merges"][3] = {"zzz", "q"};
       },
       "model.merges[3]: 'zzz' is not in the vocabulary"},
  };
  for (const auto& c : cases) {
    EditedCopy copy(c.fixture, c.edit);
    const std::string err = load_error(copy.dir.path());
    EXPECT_NE(err.find((copy.dir / "tokenizer.json").string()), std::string::npos) << err;
    EXPECT_NE(err.find(c.expected), std::string::npos) << err;
  }
  EditedCopy no_eos(
      "llama3", [](auto& j) { j.erase("eos_token"); }, "tokenizer_config.json");
  EXPECT_NE(load_error(no_eos.dir.path()).find("tokenizer_config.json: 'eos_token' is not set"),
            std::string::npos);
  EditedCopy bad_bos(
      "llama3", [](auto& j) { j["bos_token"] = "<s>"; }, "tokenizer_config.json");
  EXPECT_NE(load_error(bad_bos.dir.path()).find("'bos_token' '<s>' is not a token"),
            std::string::npos);
}
