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
