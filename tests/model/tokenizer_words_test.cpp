// The tokenizer's word cache (sdk/src/wordwise_encoder.hpp): with it the ids are exactly
// sentencepiece's own, on varied text, for models where it is used; models where encoding word
// by word would change the ids are encoded without it.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "rlhf/sentencepiece_tokenizer.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using rlhf::Tokenizer;

namespace {

std::vector<std::string> file_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

fs::path source_file(const char* relative) { return fs::path(RLHF_SOURCE_DIR) / relative; }

// The tokenizer of the tests' tiny model, trained as `rlhf-host init-model --vocab-size 400`
// trains it (host/cmd_init_model.cpp), once per process.
const fs::path& tiny_tokenizer_dir() {
  static rlhf::test::TempDir dir;
  static const bool trained = [] {
    rlhf::train_sentencepiece_tokenizer(
        source_file("examples/tokenizer/corpus.txt"), dir.path(), 400,
        {"<|system|>", "<|user|>", "<|assistant|>", "<|im_start|>", "<|im_end|>"});
    return true;
  }();
  (void)trained;
  return dir.path();
}

// Text of the kinds a dataset holds, and the corner cases of sentencepiece's whitespace and
// UTF-8 handling.
std::vector<std::string> varied_texts() {
  std::vector<std::string> texts;
  for (const char* file : {"examples/tokenizer/corpus.txt", "examples/data/polite_corpus.txt",
                           "examples/data/polite_train.jsonl"})
    for (auto& line : file_lines(source_file(file))) texts.push_back(line);
  // Whole files: paragraphs, newlines, JSON punctuation.
  for (const char* file : {"examples/tokenizer/corpus.txt", "examples/data/polite_sft.jsonl"}) {
    std::ifstream in(source_file(file));
    std::stringstream all;
    all << in.rdbuf();
    texts.push_back(all.str());
  }
  const std::vector<std::string> corners = {
      "",
      " ",
      "  ",
      "   ",
      "a",
      " a",
      "a ",
      "a  ",
      "  a",
      "a b",
      "a  b",
      "a   b c  ",
      "  leading and trailing  ",
      "\t tab\tand\nnewline \n next",
      "x\n y\n\n z",
      "\xE2\x96\x81",
      "a\xE2\x96\x81"
      "b",
      "\xE2\x96\x81\xE2\x96\x81x",
      " \xE2\x96\x81 x",
      "word\xE2\x96\x81 \xE2\x96\x81word",
      "Unicode: caf\xC3\xA9, na\xC3\xAFve, \xE2\x98\x83 and "
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80!",
      "\xE2\x98\x83\xE2\x98\x83 \xE2\x98\x83",
      "invalid \xFF\xFE utf8 \xE2\x96 cut \xC3 end\xE2",
      "\xE2 \x96\x81 \xE2\x96",
      "2024 3.14 1,000,000 and 42nd",
      "Hello, world! (yes) -- [ok]? {x: 1}",
      "<s>Hi</s>",
      "<s> <s>  </s> ",
      "<unk> <unk>x",
      "</s></s>",
      "a<s>b",
      "<s>",
      "<|user|>\nHi there.</s>\n<|assistant|>\nHello!</s>\n",
      "<|im_start|>user\nx<|im_end|>",
      "[INST] What is 2+2? [/INST] 4 </s>",
      std::string(100, 'a') + " " + std::string(70, 'b'),
      "pneumonoultramicroscopicsilicovolcanoconiosis-and-a-very-long-hyphenated-word-beyond-64-"
      "bytes end",
      std::string(300, ' ') + "x" + std::string(5, ' ')};
  texts.insert(texts.end(), corners.begin(), corners.end());

  // Generated UltraFeedback-like text (as bench/data_bench.cpp writes): Zipf-distributed words
  // of the corpora in sentences, with commas, numbers and paragraph breaks.
  std::vector<std::string> words;
  std::set<std::string> seen;
  for (auto& line : file_lines(source_file("examples/data/polite_corpus.txt"))) {
    std::istringstream in(line);
    for (std::string w; in >> w;)
      if (seen.insert(w).second) words.push_back(w);
  }
  std::mt19937_64 rng(11);
  std::vector<double> weights;
  for (std::size_t r = 0; r < words.size(); ++r) weights.push_back(1.0 / double(r + 1));
  std::discrete_distribution<std::size_t> zipf(weights.begin(), weights.end());
  for (int t = 0; t < 200; ++t) {
    std::string text;
    while (text.size() < 1300) {
      if (!text.empty()) text += rng() % 5 == 0 ? "\n\n" : " ";
      const int n = 6 + static_cast<int>(rng() % 16);
      for (int i = 0; i < n; ++i) {
        text +=
            (i ? " " : "") + (rng() % 40 == 0 ? std::to_string(rng() % 2000) : words[zipf(rng)]);
        if (rng() % 9 == 0) text += ",";
      }
      text += ".";
    }
    texts.push_back(text);
  }
  // Random strings over an alphabet of spaces, "▁", letters, newlines, multibyte and broken
  // UTF-8 and special-token strings: the splitting's corner cases in every combination.
  const std::vector<std::string> alphabet = {
      " ",    " ",    "\xE2\x96\x81", "a",    "b", "the", "\n", "\t", "\xC3\xA9", "\xE2\x98\x83",
      "\xFF", "\xE2", "<s>",          "</s>", "7", ","};
  for (int t = 0; t < 3000; ++t) {
    std::string text;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    texts.push_back(text);
  }
  return texts;
}

// The model of `dir`, trained on the repo's corpora with the settings
// train_sentencepiece_tokenizer uses (Llama's) but for `changes` ("flag=value ...", each
// replacing or adding one trainer flag).
fs::path train_variant(const fs::path& dir, const std::string& changes) {
  std::map<std::string, std::string> flags = {
      {"input", source_file("examples/tokenizer/corpus.txt").string() + "," +
                    source_file("examples/data/polite_corpus.txt").string()},
      {"model_prefix", (dir / "tokenizer").string()},
      {"model_type", "bpe"},
      {"vocab_size", "400"},
      {"character_coverage", "1.0"},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"num_threads", "1"},
      {"minloglevel", "2"},
      {"user_defined_symbols", "<|user|>,<|assistant|>"}};
  std::istringstream in(changes);
  for (std::string change; in >> change;) {
    const auto eq = change.find('=');
    flags[change.substr(0, eq)] = change.substr(eq + 1);
  }
  std::string args;
  for (const auto& [flag, value] : flags) args += " --" + flag + "=" + value;
  rlhf::detail::train_sentencepiece_model(args);
  return dir / "tokenizer.model";
}

// The ids with the word cache equal sentencepiece's (the tokenizer without it), text by text,
// first with an empty cache, then from a full one, then on four threads at once.
void expect_same_ids(const fs::path& dir, const std::vector<std::string>& texts) {
  const auto cached = rlhf::detail::load_tokenizer(dir, true);
  const auto plain = rlhf::detail::load_tokenizer(dir, false);
  std::vector<std::vector<std::int64_t>> expected;
  for (const auto& text : texts) expected.push_back(plain->encode(text, false, false));
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < texts.size(); ++i)
      ASSERT_EQ(cached->encode(texts[i], false, false), expected[i])
          << dir << " round " << round << ", text " << i << ": '" << texts[i] << "'";
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < texts.size() + t; ++i) {
        const std::size_t k = i % texts.size();
        if (cached->encode(texts[k], false, false) != expected[k]) ++mismatches[t];
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
  // With BOS/EOS as the tokenizer adds them.
  EXPECT_EQ(cached->encode(texts.back()), plain->encode(texts.back()));
}

// Encodes `text` (ASCII spaces only) word by word with `plain`, as the word cache would: a word
// starts at a space after a non-space (not at the last character), and a word after the first
// is encoded without its first space, which sentencepiece's dummy prefix stands for.
std::vector<std::int64_t> word_by_word(const Tokenizer& plain, const std::string& text) {
  std::vector<std::string> words;
  std::size_t start = 0;
  for (std::size_t i = 1; i + 1 < text.size(); ++i)
    if (text[i] == ' ' && text[i - 1] != ' ') {
      words.push_back(text.substr(start, i - start));
      start = i;
    }
  words.push_back(text.substr(start));
  std::vector<std::int64_t> ids;
  for (std::size_t w = 0; w < words.size(); ++w) {
    const auto part = plain.encode(w == 0 ? words[w] : words[w].substr(1), false, false);
    ids.insert(ids.end(), part.begin(), part.end());
  }
  return ids;
}

}  // namespace

TEST(TokenizerWordCache, IsUsedForTheTinyModelAndGivesSentencepiecesIds) {
  const fs::path& dir = tiny_tokenizer_dir();
  EXPECT_EQ(rlhf::detail::word_cache_refusal(dir / "tokenizer.model"), "");
  expect_same_ids(dir, varied_texts());
}

// legacy: segments after a special token keep their dummy prefix (the other path of encode).
TEST(TokenizerWordCache, GivesSentencepiecesIdsInLegacyMode) {
  rlhf::test::TempDir dir;
  fs::copy_file(tiny_tokenizer_dir() / "tokenizer.model", dir.path() / "tokenizer.model");
  std::ofstream(dir.path() / "tokenizer_config.json") << R"({"legacy": true})";
  expect_same_ids(dir.path(), varied_texts());
}

// A larger vocabulary has longer pieces, more merges per word; text indented with runs of
// spaces gives whitespace-only pieces ("▁▁▁▁"), which join a word's leading spaces; without byte
// fallback unknown characters merge into one <unk> within a word.
TEST(TokenizerWordCache, GivesSentencepiecesIdsWithMoreMergesSpacePiecesAndWithoutByteFallback) {
  rlhf::test::TempDir big, spaces, no_bytes;
  train_variant(big.path(), "vocab_size=1000");
  {
    std::ofstream corpus(spaces.path() / "indented.txt");
    int line_number = 0;
    for (const auto& line : file_lines(source_file("examples/tokenizer/corpus.txt")))
      corpus << std::string(4 * (line_number++ % 4), ' ') << line << "  " << line << '\n';
  }
  train_variant(spaces.path(), "input=" + (spaces.path() / "indented.txt").string());
  ASSERT_GE(rlhf::Tokenizer::load(spaces.path())
                ->token_to_id("\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81"),
            0)
      << "the indented corpus must give a piece of four spaces";
  train_variant(no_bytes.path(), "byte_fallback=false");
  const auto texts = varied_texts();
  for (const auto& dir : {big.path(), spaces.path(), no_bytes.path()}) {
    EXPECT_EQ(rlhf::detail::word_cache_refusal(dir / "tokenizer.model"), "") << dir;
    expect_same_ids(dir, texts);
  }
  // Unknown characters do occur: several in a row are one <unk>.
  const auto tok = rlhf::detail::load_tokenizer(no_bytes.path(), true);
  const auto ids = tok->encode("\xE2\x98\x83\xE2\x98\x83\xE2\x98\x83", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 1);
}

// More distinct words than one cache keeps: it empties and refills, ids unchanged.
TEST(TokenizerWordCache, GivesSentencepiecesIdsPastTheCachesCapacity) {
  std::mt19937_64 rng(3);
  std::string text;
  for (int i = 0; i < 70000; ++i) {
    text += ' ';
    for (int k = 0; k < 3 + static_cast<int>(rng() % 6); ++k)
      text += static_cast<char>('a' + rng() % 26);
  }
  std::vector<std::string> texts;
  for (std::size_t at = 0; at < text.size(); at += 20000) texts.push_back(text.substr(at, 20000));
  expect_same_ids(tiny_tokenizer_dir(), texts);
}

// Models where a word's ids depend on its neighbours (or the splitting would be wrong) are
// encoded by sentencepiece as a whole, and say why.
TEST(TokenizerWordCache, IsNotUsedWhereWordsAreNotIndependent) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"split_by_whitespace=false", "spans a word boundary"},
      {"normalization_rule_name=nmt_nfkc", "normaliser rewrites text"},
      {"remove_extra_whitespaces=true", "remove_extra_whitespaces is on"},
      {"model_type=unigram", "not a BPE model (model_type 1)"},
      {"add_dummy_prefix=false", "add_dummy_prefix is off"},
      {"treat_whitespace_as_suffix=true", "treat_whitespace_as_suffix is on"},
  };
  std::vector<std::string> texts = varied_texts();
  texts.resize(1500);  // corpora lines and corner cases; enough for six models
  for (const auto& [flags, reason] : cases) {
    rlhf::test::TempDir dir;
    const fs::path model = train_variant(dir.path(), flags);
    EXPECT_NE(rlhf::detail::word_cache_refusal(model).find(reason), std::string::npos)
        << flags << ": " << rlhf::detail::word_cache_refusal(model);
    expect_same_ids(dir.path(), texts);
  }
}

// Why the check matters: with pieces across words (split_by_whitespace=false), encoding word by
// word would change the ids of the very text the model was trained on.
TEST(TokenizerWordCache, WordByWordWouldBeWrongForPiecesAcrossWords) {
  rlhf::test::TempDir across, llama;
  train_variant(across.path(), "split_by_whitespace=false");
  train_variant(llama.path(), "");
  const auto plain_across = rlhf::detail::load_tokenizer(across.path(), false);
  const auto plain_llama = rlhf::detail::load_tokenizer(llama.path(), false);
  int differ_across = 0, differ_llama = 0;
  for (const auto& line : file_lines(source_file("examples/data/polite_corpus.txt"))) {
    differ_across += word_by_word(*plain_across, line) != plain_across->encode(line, false, false);
    differ_llama += word_by_word(*plain_llama, line) != plain_llama->encode(line, false, false);
  }
  EXPECT_GT(differ_across, 0);
  EXPECT_EQ(differ_llama, 0);
}

TEST(TokenizerWordCache, ANonModelFileIsAnErrorNamingIt) {
  rlhf::test::TempDir dir;
  const fs::path bad = dir.path() / "tokenizer.model";
  std::ofstream(bad) << "\x0a\xff";  // field 1, length past the end
  try {
    rlhf::detail::word_cache_refusal(bad);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string() + ": not a sentencepiece model"),
              std::string::npos)
        << e.what();
  }
}
