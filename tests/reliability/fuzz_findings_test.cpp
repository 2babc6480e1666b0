// What the fuzz targets of fuzz/ found (docs/reliability.md, "Fuzzing"), replayed through the
// real rlhf-host: each input once reached the user as a raw library message without the file,
// line or key it concerns. The crashing inputs themselves are in fuzz/corpus/<target>/.
#include "reliability_util.hpp"

using namespace rlhf::reliability;

// fuzz/jsonl_fuzz: a number too large for a double made nlohmann throw out_of_range (not
// parse_error), which escaped as "[json.exception.out_of_range.406] number overflow ...".
TEST(FuzzFindings, JsonNumberOverflowInDataNamesFileAndLine) {
  TempDir dir;
  write_file(
      dir / "big.jsonl",
      "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 1e400, \"completion\": \"b\"}\n");
  const fs::path pipeline =
      write_pipeline(dir.path(), tiny_model(), sft_stage((dir / "big.jsonl").string()));
  auto r = run_host({pipeline.string()}, dir.path(), 120);
  expect_error(r, {"big.jsonl:2", "malformed JSON", "number overflow"});
  EXPECT_FALSE(fs::exists(dir / "run/sft/model")) << "a result was saved";
}

// fuzz/pipeline_fuzz: a data path the OS rejects (a name over 255 bytes) made the jsonl source's
// std::filesystem::exists throw filesystem_error ("status: File name too long"), without the key.
TEST(FuzzFindings, OverlongDataPathNamesTheKey) {
  TempDir dir;
  const std::string name(300, 'd');
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), sft_stage(name));
  auto r = run_host({"--check", pipeline.string()}, dir.path(), 120);
  expect_error(r, {"pipeline.toml:", "'stage.sft.data.path'", "file not found"});
  EXPECT_FALSE(fs::exists(dir / "run"));
}

// fuzz/safetensors_fuzz: the same for a shard name in model.safetensors.index.json.
TEST(FuzzFindings, OverlongShardNameInIndexIsAMissingShard) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  write_file(
      model / "model.safetensors.index.json",
      "{\"weight_map\": {\"model.embed_tokens.weight\": \"" + std::string(300, 's') + "\"}}");
  const fs::path pipeline = write_pipeline(dir.path(), model, sft_stage(sft_data().string()));
  auto r = run_host({pipeline.string()}, dir.path(), 120);
  expect_error(
      r, {"model.safetensors.index.json", "model.embed_tokens.weight", "maps to missing shard"});
  EXPECT_FALSE(fs::exists(dir / "run/sft/model")) << "a result was saved";
}
