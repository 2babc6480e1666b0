// Loading is strict where silence loses data (docs/reliability.md, family "model loading").
// Each case once trained and saved a result that silently lacked part of the checkpoint, or
// ended with a raw library message ("[json.exception.type_error.302] …", "index out of range
// in self") naming neither file nor key. Now: exit 1, one line naming the file and the key or
// tensor, and no result on disk.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "reliability_util.hpp"
#include "rlhf/toolkit/safetensors.hpp"

using namespace rlhf::reliability;
using nlohmann::json;

namespace {

// Runs a two-step SFT stage on `model`.
HostResult train_on(const TempDir& dir, const fs::path& model) {
  const fs::path pipeline = write_pipeline(dir.path(), model, sft_stage(sft_data().string()));
  return run_host({pipeline.string()}, dir.path(), 120);
}

// A copy of the tiny model whose config.json went through `edit`.
template <typename Edit>
fs::path model_with_config(const TempDir& dir, Edit edit) {
  const fs::path model = copy_of_tiny_model(dir.path());
  json config = json::parse(read_file(model / "config.json"));
  edit(config);
  write_file(model / "config.json", config.dump(2));
  return model;
}

void expect_no_result(const TempDir& dir) {
  EXPECT_FALSE(fs::exists(dir / "run/sft/model")) << "a result was saved";
  EXPECT_FALSE(fs::exists(dir / "run/sft/stage_complete.json"));
}

// A second tiny model with a 500-token vocabulary (the first has 400), made once per process.
fs::path vocab_500_model() {
  static const fs::path dir = [] {
    fs::path out = rlhf::test::process_temp_path("vocab-500-model");
    auto r = run_host(
        {"init-model", "--out", out.string(), "--corpus",
         (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size", "500",
         "--hidden-size", "32", "--intermediate-size", "64", "--max-position-embeddings", "256"},
        fs::current_path(), 120);
    if (r.exit_code != 0) ADD_FAILURE() << "init-model failed: " << r.describe();
    return out;
  }();
  return dir;
}

// Rewrites `file` with one value of `tensor` set to `value`.
void poison_tensor(const fs::path& file, const std::string& tensor, float value) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    rlhf::SafetensorsFile in(file);
    for (const auto& name : in.names()) tensors.emplace_back(name, in.load(name));
  }
  for (auto& [name, t] : tensors)
    if (name == tensor) t.view({-1})[3] = value;
  rlhf::save_safetensors(file, tensors);
}

}  // namespace

TEST(ModelLoading, CheckpointLayersBeyondTheConfigAreAnError) {
  TempDir dir;
  const fs::path model = model_with_config(dir, [](json& c) { c["num_hidden_layers"] = 1; });
  auto r = train_on(dir, model);
  // Layer 1: two norms, four attention and three MLP projections.
  expect_error(r, {"model.safetensors", "9 tensors of the checkpoint",
                   "'model.layers.1.input_layernorm.weight'", "the checkpoint has 2 layers",
                   "'num_hidden_layers' is 1"});
  expect_no_result(dir);
}

TEST(ModelLoading, CheckFindsUnusedLayersWithoutReadingWeights) {
  TempDir dir;
  const fs::path model = model_with_config(dir, [](json& c) { c["num_hidden_layers"] = 1; });
  const fs::path pipeline = write_pipeline(dir.path(), model, sft_stage(sft_data().string()));
  auto r = run_host({"--check", pipeline.string()}, dir.path(), 120);
  expect_error(r, {"model.safetensors", "9 tensors of the checkpoint", "'num_hidden_layers' is 1"});
  EXPECT_TRUE(tree(dir / "run").empty());
}

TEST(ModelLoading, PrequantizedStateTensorsCountAsUsed) {
  TempDir dir;
  // int8 keeps its scales beside the weight ("<module>.SCB"), nf4 under it (".weight.absmax").
  for (const std::string quantizer : {"int8", "nf4"}) {
    const fs::path model = dir / ("model-" + quantizer);
    auto q = run_host({"quantize", "--model", tiny_model().string(), "--quantizer", quantizer,
                       "--out", model.string()},
                      dir.path(), 120);
    ASSERT_EQ(q.exit_code, 0) << q.describe();
    const fs::path pipeline = write_pipeline(
        dir.path(), model, sft_stage(sft_data().string()),
        "[quantizer]\nplugin = \"" + quantizer + "\"\n[adapter]\nplugin = \"lora\"\nr = 4\n");
    auto check = run_host({"--check", pipeline.string()}, dir.path(), 120);
    EXPECT_EQ(check.exit_code, 0) << check.describe();
    auto r = run_host({pipeline.string()}, dir.path(), 120);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(fs::exists(dir / "run/sft/adapter")) << quantizer;
    fs::remove_all(dir / "run");
  }
}

TEST(ModelLoading, MissingTensorIsAnError) {
  TempDir dir;
  const fs::path model = model_with_config(dir, [](json& c) { c["num_hidden_layers"] = 3; });
  auto r = train_on(dir, model);
  expect_error(r, {"tensor 'model.layers.2.input_layernorm.weight' is missing"});
  expect_no_result(dir);
}

TEST(ModelLoading, UnsupportedActivationIsRefused) {
  TempDir dir;
  const fs::path model = model_with_config(dir, [](json& c) { c["hidden_act"] = "gelu"; });
  auto r = train_on(dir, model);
  expect_error(r, {"config.json", "'hidden_act'", "'gelu' is not supported", "silu"});
  expect_no_result(dir);
}

TEST(ModelLoading, FractionalIntegerFieldIsRefused) {
  TempDir dir;
  // 2.5 layers was read as 2.
  const fs::path model = model_with_config(dir, [](json& c) { c["num_hidden_layers"] = 2.5; });
  auto r = train_on(dir, model);
  expect_error(r, {"config.json", "'num_hidden_layers'", "expected an integer, got 2.5"});
  expect_no_result(dir);
}

TEST(ModelLoading, IntegerFieldAsStringIsRefused) {
  TempDir dir;
  const fs::path model = model_with_config(dir, [](json& c) { c["head_dim"] = "8"; });
  auto r = train_on(dir, model);
  expect_error(r, {"config.json", "'head_dim'", "expected an integer, got \"8\""});
  expect_no_result(dir);
}

TEST(ModelLoading, WronglyTypedConfigFieldNamesFileAndKey) {
  TempDir dir;
  // Was "[json.exception.type_error.302] type must be number, but is string".
  const fs::path model = model_with_config(dir, [](json& c) { c["eos_token_id"] = {2, "x"}; });
  auto r = train_on(dir, model);
  expect_error(r, {"config.json", "'eos_token_id[1]'", "expected an integer"});
  EXPECT_EQ(r.output.find("json.exception"), std::string::npos) << r.output;
  expect_no_result(dir);
}

TEST(ModelLoading, TokenizerLargerThanTheVocabularyIsAnError) {
  TempDir dir;
  // Was "index out of range in self" from inside the embedding, mid-run.
  const fs::path model = copy_of_tiny_model(dir.path());
  fs::copy_file(vocab_500_model() / "tokenizer.model", model / "tokenizer.model",
                fs::copy_options::overwrite_existing);
  auto r = train_on(dir, model);
  expect_error(r, {"tokenizer.model", "has 500 tokens", "config.json", "'vocab_size' is 400"});
  EXPECT_EQ(r.output.find("index out of range"), std::string::npos) << r.output;
  expect_no_result(dir);
}

TEST(ModelLoading, TokenizerSmallerThanTheVocabularyIsFine) {
  TempDir dir;
  // Embeddings with more rows than the tokenizer has tokens (padded vocabularies) are normal.
  const fs::path model = dir / "model";
  fs::create_directories(model);
  fs::copy(vocab_500_model(), model, fs::copy_options::recursive);
  fs::copy_file(tiny_model() / "tokenizer.model", model / "tokenizer.model",
                fs::copy_options::overwrite_existing);
  auto r = train_on(dir, model);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors"));
}

TEST(ModelLoading, NanWeightNamesTheTensorAndTheFile) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  poison_tensor(model / "model.safetensors", "model.layers.0.mlp.up_proj.weight",
                std::numeric_limits<float>::quiet_NaN());
  auto r = train_on(dir, model);
  expect_error(r, {"model.safetensors", "tensor 'model.layers.0.mlp.up_proj.weight'",
                   "1 of 2048 values are NaN or Inf"});
  expect_no_result(dir);
}

TEST(ModelLoading, InfWeightIsRefusedBySubcommandsToo) {
  TempDir dir;
  const fs::path model = copy_of_tiny_model(dir.path());
  poison_tensor(model / "model.safetensors", "model.embed_tokens.weight",
                std::numeric_limits<float>::infinity());
  auto r = run_host({"logprobs", "--model", model.string(), "--data", pref_data().string(), "--out",
                     (dir / "logps.jsonl").string()},
                    dir.path(), 120);
  expect_error(r, {"model.safetensors", "tensor 'model.embed_tokens.weight'", "NaN or Inf"});
  EXPECT_FALSE(fs::exists(dir / "logps.jsonl"));
}
