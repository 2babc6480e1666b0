// Pre-quantized checkpoints (config.json with quantization_config, as `rlhf-host quantize`
// writes it) load in pipelines and subcommands without naming the quantizer, through the
// rlhf-host binary: QLoRA SFT trains on one, its log-probs equal the model quantized on load,
// a [quantizer] that contradicts it is refused naming both.
#include <gtest/gtest.h>

#include <cmath>

#include "../reliability/check_util.hpp"
#include "../reliability/peft_fixtures.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::reliability {
namespace {

std::string sft_on_shipped_data() { return stage_of("sft", path_key(sft_data())); }

TEST(QuantizedCheckpoint, QloraSftTrainsWithoutAQuantizerTable) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), nf4_model(), sft_stage(sft_data().string(), 2),
                     "[adapter]\nplugin = \"lora\"\nr = 4\ntarget_modules = \"all-linear\"\n");
  const auto check = check_writes_nothing(dir.path(), pipeline);
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  const auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("quantized, with adapter"), std::string::npos) << r.output;
  int losses = 0;
  for (const auto& line : read_jsonl(dir / "run/metrics.jsonl"))
    if (line.contains("loss")) {
      EXPECT_TRUE(std::isfinite(line["loss"].get<double>())) << line.dump();
      ++losses;
    }
  EXPECT_GT(losses, 0);
  EXPECT_TRUE(fs::exists(dir / "run/sft/adapter/adapter_model.safetensors"));
  // The adapter trained through the 4-bit base: its B matrices left zero.
  SafetensorsFile saved(dir / "run/sft/adapter/adapter_model.safetensors");
  double b_norm = 0;
  for (const auto& name : saved.names())
    if (name.find("lora_B") != std::string::npos)
      b_norm += saved.load(name).abs().sum().item<double>();
  EXPECT_GT(b_norm, 0.0);
}

TEST(QuantizedCheckpoint, LogprobsEqualTheModelQuantizedOnLoad) {
  TempDir dir;
  const auto data = small_prefs(dir.path(), 4);
  const auto stored = logprobs(nf4_model(), data, dir / "stored.jsonl");
  ASSERT_EQ(stored.size(), 4u);
  // The dense model quantized on load with the same settings, evaluated by an eval_only stage.
  const auto pipeline = write_pipeline(dir.path(), tiny_model(),
                                       "name = \"eval\"\nalgorithm = \"dpo\"\neval_only = true\n"
                                       "data = { plugin = \"jsonl\", path = \"" +
                                           data.string() + "\" }",
                                       "[quantizer]\nplugin = \"nf4\"\ndouble_quant = true\n");
  const auto r = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto on_load = read_jsonl(dir / "run/eval/eval_predictions.jsonl");
  ASSERT_EQ(on_load.size(), 4u);
  const auto dense = logprobs(tiny_model(), data, dir / "dense.jsonl");
  for (const auto& p : on_load) {
    const auto line = static_cast<std::size_t>(source_line(p) - 1);
    ASSERT_LT(line, 4u);
    for (const char* side : {"chosen_logps", "rejected_logps"}) {
      const double want = p[side].get<double>();
      EXPECT_NEAR(stored[line][side].get<double>(), want, 1e-5 * std::abs(want)) << side;
      // ... and NF4 is not the dense model: the comparison is not vacuous.
      EXPECT_GT(std::abs(dense[line][side].get<double>() - want), 1e-4) << side;
    }
  }
  // An adapter attaches to the stored 4-bit model too.
  const auto adapted = logprobs(nf4_model(), data, dir / "adapted.jsonl", sft_adapter());
  ASSERT_EQ(adapted.size(), 4u);
  EXPECT_NE(adapted[0]["chosen_logps"], stored[0]["chosen_logps"]);
}

TEST(QuantizedCheckpoint, ContradictingQuantizerTableIsRefusedNamingBoth) {
  TempDir dir;
  const std::string config = (nf4_model() / "config.json").string();
  expect_check_and_run_fail_alike(
      dir.path(),
      write_pipeline(dir.path(), nf4_model(), sft_on_shipped_data(),
                     "[quantizer]\nplugin = \"int8\"\n[adapter]\nplugin = \"lora\"\n"),
      {"pipeline.toml:", "'quantizer.plugin'", "\"int8\"", config, "\"nf4\""});
  expect_check_and_run_fail_alike(
      dir.path(),
      write_pipeline(dir.path(), nf4_model(), sft_on_shipped_data(),
                     "[quantizer]\nplugin = \"nf4\"\ndouble_quant = false\n"
                     "[adapter]\nplugin = \"lora\"\n"),
      {"'quantizer.plugin'", config,
       "double_quant = false, but bnb_4bit_use_double_quant is true"});
  // The same plugin with agreeing (or no) settings is fine.
  const auto ok = check_writes_nothing(
      dir.path(), write_pipeline(dir.path(), nf4_model(), sft_on_shipped_data(),
                                 "[quantizer]\nplugin = \"nf4\"\ndouble_quant = true\n"
                                 "[adapter]\nplugin = \"lora\"\n"));
  EXPECT_EQ(ok.exit_code, 0) << ok.describe();
}

TEST(QuantizedCheckpoint, FormatRlhfHostCannotLoadIsNamedAtTheModelPath) {
  TempDir dir;
  fs::create_directories(dir / "m");
  fs::copy(nf4_model(), dir / "m", fs::copy_options::recursive);
  edit_config(dir / "m",
              [](nlohmann::json& c) { c["quantization_config"]["quant_method"] = "gptq"; });
  expect_check_and_run_fail_alike(
      dir.path(), write_pipeline(dir.path(), dir / "m", sft_on_shipped_data()),
      {"pipeline.toml:", "'model.path'", (dir / "m/config.json").string(), "\"gptq\""});
  const auto r = run_host({"logprobs", "--model", (dir / "m").string(), "--data",
                           small_prefs(dir.path()).string(), "--out", (dir / "o.jsonl").string()},
                          dir.path());
  expect_error(r, {(dir / "m/config.json").string(), "\"gptq\""});
}

TEST(QuantizedCheckpoint, FullFineTuneOfThe4BitModelIsRefused) {
  TempDir dir;
  const auto run = expect_check_and_run_fail_alike(
      dir.path(), write_pipeline(dir.path(), nf4_model(), sft_on_shipped_data()),
      {"'stage.s'", "cannot be trained", "quantization_config", "add an [adapter]"});
  EXPECT_FALSE(fs::exists(dir / "run/s/model")) << run.describe();
}

TEST(QuantizedCheckpoint, BenchQuantAndQuantizeReadIt) {
  TempDir dir;
  const auto r = run_host({"bench-quant", "--model", nf4_model().string(), "--data",
                           (kSource / "examples/data/polite_heldout.jsonl").string(),
                           "--max-examples", "2", "--iters", "1"},
                          dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cells(line);
    std::vector<std::string> c;
    for (std::string cell; cells >> cell;) c.push_back(cell);
    if (c.size() == 9) rows[c[0]] = c;
  }
  for (const char* name : {"none", "int8", "nf4"}) ASSERT_TRUE(rows.count(name)) << r.output;
  // The reference is the stored weights: the nf4 row reads them as they are, none dequantizes
  // them exactly, int8 requantizes them.
  EXPECT_EQ(std::stod(rows["nf4"][3]), 0.0);
  EXPECT_EQ(std::stod(rows["none"][3]), 0.0);
  EXPECT_GT(std::stod(rows["int8"][3]), 0.0);

  const auto q = run_host({"quantize", "--model", nf4_model().string(), "--quantizer", "int8",
                           "--out", (dir / "int8").string()},
                          dir.path());
  ASSERT_EQ(q.exit_code, 0) << q.describe();
  EXPECT_NE(q.output.find("dequantized the 14 projections"), std::string::npos) << q.output;
  const auto config = nlohmann::json::parse(read_file(dir / "int8/config.json"));
  EXPECT_EQ(config["quantization_config"]["load_in_8bit"], true);
  EXPECT_EQ(logprobs(dir / "int8", small_prefs(dir.path()), dir / "int8.jsonl").size(), 4u);
}

}  // namespace
}  // namespace rlhf::reliability
