// Damaged tokenizer files in the model folder (docs/reliability.md, family "tokenizer files"):
// the run stops with exit 1 and one line naming the file (and the key where there is one), and
// the stage leaves no result.
#include "reliability_util.hpp"

using namespace rlhf::reliability;

namespace {

HostResult run_sft(const TempDir& dir, const fs::path& model) {
  const auto pipeline = write_pipeline(dir.path(), model, sft_stage(sft_data().string()));
  return run_host({pipeline.string()}, dir.path(), 120);
}

void expect_no_result(const TempDir& dir) {
  EXPECT_FALSE(fs::exists(dir / "run/sft/model"));
  EXPECT_FALSE(fs::exists(dir / "run/sft/stage_complete.json"));
}

}  // namespace

TEST(TokenizerFiles, MissingTokenizerModel) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  fs::remove(model / "tokenizer.model");
  auto r = run_sft(dir, model);
  expect_error(r, {"tokenizer.model"});
  expect_no_result(dir);
}

TEST(TokenizerFiles, GarbageTokenizerModel) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  write_file(model / "tokenizer.model", "this is not a protobuf \x01\x02\x03");
  auto r = run_sft(dir, model);
  expect_error(r, {"tokenizer.model"});
  expect_no_result(dir);
}

TEST(TokenizerFiles, TruncatedTokenizerModel) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  const std::string bytes = read_file(model / "tokenizer.model");
  write_file(model / "tokenizer.model", bytes.substr(0, bytes.size() / 2));
  auto r = run_sft(dir, model);
  expect_error(r, {"tokenizer.model"});
  expect_no_result(dir);
}

TEST(TokenizerFiles, TokenizerConfigThatIsNotJson) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  write_file(model / "tokenizer_config.json", "{\"add_bos_token\": tru");
  auto r = run_sft(dir, model);
  expect_error(r, {"tokenizer_config.json"});
  expect_no_result(dir);
}

TEST(TokenizerFiles, TokenizerConfigFlagOfTheWrongType) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  write_file(model / "tokenizer_config.json", "{\"add_bos_token\": \"yes\"}");
  auto r = run_sft(dir, model);
  expect_error(r, {"tokenizer_config.json", "add_bos_token"});
  expect_no_result(dir);
}

TEST(TokenizerFiles, AddedTokenWithANonNumericId) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  write_file(model / "tokenizer_config.json",
             "{\"added_tokens_decoder\": {\"x7\": {\"content\": \"<extra>\"}}}");
  auto r = run_sft(dir, model);
  expect_error(r, {"tokenizer_config.json", "x7"});
  expect_no_result(dir);
}

TEST(TokenizerFiles, SpecialTokensMapOfTheWrongShape) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  write_file(model / "special_tokens_map.json", "[1, 2, 3]");
  // A map that is not an object carries no tokens: transformers ignores it too. The run trains.
  auto r = run_sft(dir, model);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(fs::exists(dir / "run/sft/stage_complete.json"));
}
