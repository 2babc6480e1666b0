// `rlhf-host generate` on the models users bring: a PEFT adapter folder (`--adapter`) and a
// pre-quantized checkpoint (quantization_config), through the binary. The adapter's completions
// must be those of the model with the adapter merged in (`export`), which differ from the base's.
#include "peft_fixtures.hpp"

namespace rlhf::reliability {
namespace {

std::vector<std::vector<std::int64_t>> completion_ids(const fs::path& out) {
  std::vector<std::vector<std::int64_t>> ids;
  for (const auto& line : read_jsonl(out))
    ids.push_back(line.at("completion_ids").get<std::vector<std::int64_t>>());
  return ids;
}

std::vector<std::vector<std::int64_t>> generate(const fs::path& dir,
                                                std::vector<std::string> model_args,
                                                const std::string& out) {
  std::vector<std::string> args{
      "generate",         "--data", small_prefs(dir).string(), "--out", (dir / out).string(),
      "--max-new-tokens", "6",      "--chat-template",         "zephyr"};
  args.insert(args.end(), model_args.begin(), model_args.end());
  const auto r = run_host(args, dir, 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return completion_ids(dir / out);
}

}  // namespace

TEST(GenerateModels, AdapterFolderGivesTheMergedModelsCompletions) {
  TempDir dir;
  const auto exported = run_host({"export", "--model", tiny_model().string(), "--adapter",
                                  sft_adapter().string(), "--out", (dir / "merged").string()},
                                 dir.path(), 120);
  ASSERT_EQ(exported.exit_code, 0) << exported.describe();
  const auto live =
      generate(dir.path(), {"--model", tiny_model().string(), "--adapter", sft_adapter().string()},
               "live.jsonl");
  const auto merged = generate(dir.path(), {"--model", (dir / "merged").string()}, "merged.jsonl");
  const auto base = generate(dir.path(), {"--model", tiny_model().string()}, "base.jsonl");
  ASSERT_EQ(live.size(), 4u);
  EXPECT_EQ(live, merged);
  EXPECT_NE(live, base) << "the adapter changes no completion: the test cannot tell it was used";
}

TEST(GenerateModels, PreQuantizedCheckpointLoadsWithoutNamingTheQuantizer) {
  TempDir dir;
  const auto ids = generate(dir.path(), {"--model", nf4_model().string()}, "nf4.jsonl");
  ASSERT_EQ(ids.size(), 4u);
  for (const auto& row : ids) EXPECT_FALSE(row.empty());
}

}  // namespace rlhf::reliability
