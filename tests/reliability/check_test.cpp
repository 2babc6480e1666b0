// `--check` finds what the run finds (docs/reliability.md, families "--check finds what the run
// finds" and "quantizer without adapter"): each broken input makes `rlhf-host --check` and the
// run exit 1 with the same error line, and --check writes nothing. Before, --check printed `ok`
// for all of them (it read neither data, tokenizer nor model files).
#include <fstream>

#include "check_util.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/safetensors.hpp"

using namespace rlhf::reliability;

namespace {

std::string sft_on_shipped_data() { return stage_of("sft", path_key(sft_data())); }

}  // namespace

TEST(CheckFindsWhatRunFinds, BadLineInALaterStageFailsBeforeAnyTraining) {
  TempDir dir;
  write_file(dir / "bad.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 3}\n");
  const std::string stages = stage_of("sft", path_key(sft_data()), "", "first") + "\n[[stage]]\n" +
                             stage_of("sft", path_key(dir / "bad.jsonl"), "", "second");
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), stages);
  auto run = expect_check_and_run_fail_alike(dir.path(), pipeline, {"bad.jsonl:2", "prompt"});
  // The run got there only after training the first stage; --check found it in a second.
  EXPECT_TRUE(fs::exists(dir / "run/first/model/config.json")) << run.describe();
  EXPECT_FALSE(fs::exists(dir / "run/second/model"));
}

TEST(CheckFindsWhatRunFinds, MissingTokenizer) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  fs::remove(model / "tokenizer.model");
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"tokenizer.model not found"});
}

TEST(CheckFindsWhatRunFinds, CorruptConfigJson) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  write_file(model / "config.json", "{\"hidden_size\": 32,");
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"config.json", "not valid JSON"});
}

TEST(CheckFindsWhatRunFinds, TruncatedSafetensorsHeader) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  fs::resize_file(model / "model.safetensors", 40);  // the 8-byte length, then part of the JSON
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"model.safetensors"});
}

TEST(CheckFindsWhatRunFinds, SafetensorsShorterThanItsOffsets) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  const auto file = model / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) - 64);  // the header is intact, the last bytes gone
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"model.safetensors"});
}

TEST(CheckFindsWhatRunFinds, MissingTensor) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  edit_config(model, [](nlohmann::json& c) {
    c["num_hidden_layers"] = c["num_hidden_layers"].get<int>() + 1;
  });
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"tensor 'model.layers.2.", "is missing from the checkpoint"});
}

TEST(CheckFindsWhatRunFinds, TensorOfTheWrongShape) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  edit_config(model, [](nlohmann::json& c) { c["intermediate_size"] = 96; });
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"mlp.gate_proj.weight' has shape [64, 32]", "implies [96, 32]"});
}

TEST(CheckFindsWhatRunFinds, TensorOfAnIntegerDtype) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  // The first tensor of the header becomes I32: same size, so the header stays consistent.
  std::string bytes = read_file(model / "model.safetensors");
  const auto at = bytes.find("\"F32\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "\"I32\"");
  write_file(model / "model.safetensors", bytes);
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"model.safetensors: tensor '", "has dtype I32"});
}

TEST(CheckFindsWhatRunFinds, NoSafetensorsInTheModelFolder) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  fs::remove(model / "model.safetensors");
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"no model.safetensors"});
}

TEST(CheckFindsWhatRunFinds, BrokenModelOfAStageOverride) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  fs::remove(model / "model.safetensors");
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     sft_on_shipped_data() + "model = { path = \"" + model.string() + "\" }\n");
  expect_check_and_run_fail_alike(dir.path(), pipeline, {model.string(), "no model.safetensors"});
}

TEST(CheckFindsWhatRunFinds, BrokenDpoRefModel) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  edit_config(model, [](nlohmann::json& c) { c["intermediate_size"] = 96; });
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(),
      stage_of("dpo", path_key(pref_data()), "ref_model = \"" + model.string() + "\"\n"));
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"has shape [64, 32]", "implies [96, 32]"});
}

TEST(CheckFindsWhatRunFinds, LoraTargetModuleMatchingNothing) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(), sft_on_shipped_data(),
                     "[adapter]\nplugin = \"lora\"\nr = 4\ntarget_modules = [\"qq_proj\"]\n");
  expect_check_and_run_fail_alike(dir.path(), pipeline, {"'qq_proj' matches no module"});
}

TEST(CheckFindsWhatRunFinds, CorruptTokenizerModel) {
  TempDir dir;
  const auto model = copy_of_tiny_model(dir.path());
  write_file(model / "tokenizer.model", "this is not a sentencepiece model");
  const auto pipeline = write_pipeline(dir.path(), model, sft_on_shipped_data());
  expect_check_and_run_fail_alike(dir.path(), pipeline,
                                  {"tokenizer.model", "cannot load sentencepiece model"});
}

// The shipped examples check clean (tests/train has the same for every example): here the QLoRA
// one, since --check now attaches the adapter to the model's structure.
TEST(CheckFindsWhatRunFinds, ShippedQloraExampleChecksClean) {
  TempDir dir;
  auto r = run_host(
      {"--check", (kSource / "examples/qlora-sft-dpo.toml").string(), "--set",
       "model.path=" + tiny_model().string(), "--set", "run.output_dir=" + (dir / "run").string()},
      kSource, 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("ok (4 stages"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run"));
}

// --- A quantizer whose weights cannot train, without an adapter ---------------------------

TEST(QuantizerWithoutAdapter, TrainingStageIsRefusedByCheckAndRun) {
  TempDir dir;
  const auto pipeline = write_pipeline(dir.path(), tiny_model(), sft_on_shipped_data(),
                                       "[quantizer]\nplugin = \"nf4\"\n");
  auto run = expect_check_and_run_fail_alike(dir.path(), pipeline,
                                             {"pipeline.toml:", "'stage.s'", "cannot be trained",
                                              "add an [adapter]", "remove [quantizer]"});
  // Refused before the model loaded: no packed tensors saved without quantization_config.
  EXPECT_FALSE(fs::exists(dir / "run/s/model")) << run.describe();
  EXPECT_FALSE(fs::exists(dir / "run/s/stage_complete.json"));
}

TEST(QuantizerWithoutAdapter, EvalOnlyStageStillRuns) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(),
                     "name = \"eval\"\nalgorithm = \"dpo\"\neval_only = true\nmax_length = 64\n"
                     "data = { plugin = \"jsonl\", " +
                         path_key(pref_data()) + ", sample_ratio = 0.01 }\n",
                     "[quantizer]\nplugin = \"nf4\"\n");
  auto check = check_writes_nothing(dir.path(), pipeline);
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  auto run = run_host({pipeline.string()}, dir.path(), 300);
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(fs::exists(dir / "run/eval/eval_predictions.jsonl"));
}

TEST(QuantizerWithoutAdapter, WithAnAdapterItTrainsQlora) {
  TempDir dir;
  const auto pipeline =
      write_pipeline(dir.path(), tiny_model(), sft_on_shipped_data(),
                     "[quantizer]\nplugin = \"nf4\"\n[adapter]\nplugin = \"lora\"\nr = 4\n");
  auto check = check_writes_nothing(dir.path(), pipeline);
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  auto run = run_host({pipeline.string()}, dir.path(), 300);
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(fs::exists(dir / "run/s/adapter/adapter_model.safetensors"));
}

// The "none" quantizer keeps dense weights: a full fine-tune trains the projections too (they
// were frozen before, so only embeddings, norms and lm_head moved), and the result reloads.
TEST(QuantizerWithoutAdapter, NoneQuantizerTrainsEveryWeight) {
  TempDir dir;
  const auto pipeline = write_pipeline(
      dir.path(), tiny_model(), stage_of("sft", path_key(sft_data()), "learning_rate = 1e-2\n"),
      "[quantizer]\nplugin = \"none\"\n");
  auto check = check_writes_nothing(dir.path(), pipeline);
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  auto run = run_host({pipeline.string()}, dir.path(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const rlhf::SafetensorsCheckpoint before(tiny_model()), after(dir / "run/s/model");
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  ASSERT_TRUE(after.contains(q));
  EXPECT_FALSE(torch::equal(before.load(q), after.load(q))) << "the projection did not train";
  // It reloads as a dense model (no packed tensors, no quantization_config needed).
  EXPECT_NO_THROW(rlhf::load_causal_lm(dir / "run/s/model"));
}
