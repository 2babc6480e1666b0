// A tokenizer.json model folder through `rlhf-host` as a process: an SFT run trains and saves a
// folder that loads again with the same tokenizer; an unsupported tokenizer.json stops --check
// and the run with one error line naming the field.
#include <gtest/gtest.h>

#include "../reliability/check_util.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

using namespace rlhf::reliability;

namespace {

const fs::path kFixture = kSource / "tests/tokenizer_json/llama3";

// A tiny model whose embeddings have a row for each of the fixture's 663 tokens, with the
// fixture's tokenizer.json in place of its sentencepiece files.
fs::path bpe_model(const TempDir& dir) {
  const fs::path model = dir / "model";
  auto r = run_host(
      {"init-model", "--out", model.string(), "--corpus",
       (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size", "700",
       "--hidden-size", "32", "--intermediate-size", "64", "--max-position-embeddings", "256"},
      dir.path(), 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  for (const char* f : {"tokenizer.model", "special_tokens_map.json", "tokenizer_config.json"})
    fs::remove(model / f);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(kFixture / f, model / f);
  return model;
}

}  // namespace

TEST(TokenizerJsonHost, SftRunsOnATokenizerJsonFolderAndItsResultLoads) {
  TempDir dir;
  const fs::path model = bpe_model(dir);
  const auto pipeline = write_pipeline(dir.path(), model, sft_stage(sft_data().string()));
  const auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const fs::path out = dir / "run/sft/model";
  ASSERT_TRUE(fs::exists(out / "tokenizer.json")) << r.describe();
  const auto saved = rlhf::Tokenizer::load(out);
  const auto orig = rlhf::Tokenizer::load(kFixture);
  EXPECT_EQ(saved->encode("Hello world!<|eot_id|>"), orig->encode("Hello world!<|eot_id|>"));
  EXPECT_EQ(saved->eos_id(), orig->eos_id());
}

TEST(TokenizerJsonHost, UnsupportedModelTypeIsOneErrorLineNamingTheField) {
  TempDir dir;
  const fs::path model = bpe_model(dir);
  std::string json = read_file(model / "tokenizer.json");
  const auto at = json.find("\"type\": \"BPE\"");
  ASSERT_NE(at, std::string::npos);
  json.replace(at, 13, "\"type\": \"WordPiece\"");
  write_file(model / "tokenizer.json", json);
  const auto pipeline = write_pipeline(dir.path(), model, sft_stage(sft_data().string()));
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"tokenizer.json", "'model.type' is 'WordPiece'"});
}
