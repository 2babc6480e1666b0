// Bad PEFT adapter folders (`[adapter] path`, a stage's `adapter = { path }`, `logprobs
// --adapter`): each exits 1 with one line naming the file (and the key), and `--check` finds what
// the run finds without writing anything.
#include <torch/torch.h>

#include "check_util.hpp"
#include "peft_fixtures.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::reliability {
namespace {

// A copy of sft_adapter() under `dir`, to damage.
fs::path copy_of_adapter(const fs::path& dir) {
  const fs::path out = dir / "adapter";
  fs::create_directories(out);
  fs::copy(sft_adapter(), out, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  return out;
}

std::string adapter_table(const fs::path& adapter, const std::string& extra = "") {
  return "[adapter]\n" + path_key(adapter) + "\n" + extra;
}

fs::path sft_pipeline(const fs::path& dir, const fs::path& model, const std::string& extra) {
  return write_pipeline(dir, model, stage_of("sft", path_key(sft_data())), extra);
}

// A tiny model of another shape (init-model options appended), as `dir`/other.
fs::path other_base(const fs::path& dir, std::vector<std::string> options) {
  std::vector<std::string> args = {"init-model",
                                   "--out",
                                   (dir / "other").string(),
                                   "--corpus",
                                   (kSource / "examples/data/polite_corpus.txt").string(),
                                   "--vocab-size",
                                   "400",
                                   "--max-position-embeddings",
                                   "256"};
  args.insert(args.end(), options.begin(), options.end());
  const auto r = run_host(args, dir, 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return dir / "other";
}

TEST(AdapterFolder, MissingFolderOrConfigIsNamedAtThePathKey) {
  TempDir dir;
  expect_check_and_run_fail_alike(
      dir.path(), sft_pipeline(dir.path(), tiny_model(), adapter_table(dir / "nowhere")),
      {"pipeline.toml:", "'adapter.path'", "nowhere", "does not exist"});
  const auto adapter = copy_of_adapter(dir.path());
  fs::remove(adapter / "adapter_config.json");
  const auto run = expect_check_and_run_fail_alike(
      dir.path(), sft_pipeline(dir.path(), tiny_model(), adapter_table(adapter)),
      {"pipeline.toml:", "'adapter.path'", (adapter / "adapter_config.json").string(), "missing"});
  EXPECT_FALSE(fs::exists(dir / "run")) << run.describe();
}

TEST(AdapterFolder, TensorShapeMismatchNamesTheTensorAndFile) {
  TempDir dir;
  const auto adapter = copy_of_adapter(dir.path());
  const fs::path weights = adapter / "adapter_model.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    SafetensorsFile file(weights);
    for (const auto& name : file.names()) tensors.emplace_back(name, file.load(name));
  }
  const std::string bad = "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight";
  for (auto& [name, t] : tensors)
    if (name == bad) t = torch::zeros({4, 31});
  save_safetensors(weights, tensors);
  const auto run = expect_check_and_run_fail_alike(
      dir.path(), sft_pipeline(dir.path(), tiny_model(), adapter_table(adapter)),
      {weights.string(), bad, "has shape [4, 31]", "the model needs [4, 32]"});
  EXPECT_FALSE(fs::exists(dir / "run/sft/adapter")) << run.describe();
}

TEST(AdapterFolder, AdapterOfAnotherBaseModelIsRefused) {
  TempDir dir;
  // Another width: every lora_A has the wrong number of columns.
  const auto wide = other_base(dir.path(), {"--hidden-size", "48", "--intermediate-size", "96"});
  expect_check_and_run_fail_alike(dir.path(),
                                  sft_pipeline(dir.path(), wide, adapter_table(sft_adapter())),
                                  {(sft_adapter() / "adapter_model.safetensors").string(),
                                   "has shape [4, 32]", "the model needs [4, 48]"});
  // Fewer layers: the folder holds tensors for modules the model does not have.
  fs::remove_all(dir / "other");
  const auto shallow =
      other_base(dir.path(), {"--hidden-size", "32", "--intermediate-size", "64", "--layers", "1"});
  const auto r =
      run_host({"logprobs", "--model", shallow.string(), "--adapter", sft_adapter().string(),
                "--data", small_prefs(dir.path()).string(), "--out", (dir / "out.jsonl").string()},
               dir.path());
  expect_error(r, {(sft_adapter() / "adapter_model.safetensors").string(), "model.layers.1.",
                   "another base model"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

TEST(AdapterFolder, TableKeyContradictingTheFolderNamesKeyAndFile) {
  TempDir dir;
  const std::string config = (sft_adapter() / "adapter_config.json").string();
  expect_check_and_run_fail_alike(
      dir.path(), sft_pipeline(dir.path(), tiny_model(), adapter_table(sft_adapter(), "r = 8\n")),
      {"pipeline.toml:", "'adapter.r'", "is 8", config, "has r = 4"});
  expect_check_and_run_fail_alike(
      dir.path(),
      sft_pipeline(dir.path(), tiny_model(), adapter_table(sft_adapter(), "alpha = 16\n")),
      {"'adapter.alpha'", config, "lora_alpha = 8"});
  // target_modules is compared by the modules it selects (when the model is attached).
  expect_check_and_run_fail_alike(
      dir.path(),
      write_pipeline(dir.path(), tiny_model(),
                     stage_of("sft", path_key(sft_data()),
                              "adapter = { " + path_key(sft_adapter()) +
                                  ", target_modules = [\"q_proj\"] }\n")),
      {"target_modules", "does not wrap 'model.layers.0.self_attn.v_proj'", config});
  // Agreeing keys are fine: --check passes.
  const auto ok = check_writes_nothing(
      dir.path(), sft_pipeline(dir.path(), tiny_model(),
                               adapter_table(sft_adapter(),
                                             "plugin = \"lora\"\nr = 4\nlora_alpha = 8.0\n"
                                             "target_modules = [\"v_proj\", \"q_proj\"]\n")));
  EXPECT_EQ(ok.exit_code, 0) << ok.describe();
}

TEST(AdapterFolder, PeftFeaturesTheLoraPluginCannotComputeAreRefused) {
  TempDir dir;
  const auto adapter = copy_of_adapter(dir.path());
  const fs::path config_file = adapter / "adapter_config.json";
  const auto config = nlohmann::json::parse(read_file(config_file));
  auto with = [&](const char* key, const nlohmann::json& value) {
    auto c = config;
    c[key] = value;
    write_file(config_file, c.dump(2));
  };
  with("use_dora", true);
  expect_check_and_run_fail_alike(
      dir.path(), sft_pipeline(dir.path(), tiny_model(), adapter_table(adapter)),
      {"'adapter.path'", config_file.string(), "'use_dora'", "does not support"});
  with("target_modules", ".*\\.q_proj");
  expect_check_and_run_fail_alike(dir.path(),
                                  sft_pipeline(dir.path(), tiny_model(), adapter_table(adapter)),
                                  {config_file.string(), "'target_modules'", "regular expression"});
  // The plugin is named by peft_type: an adapter type without a plugin says which.
  with("peft_type", "IA3");
  expect_check_and_run_fail_alike(dir.path(),
                                  sft_pipeline(dir.path(), tiny_model(), adapter_table(adapter)),
                                  {"'adapter.path'", "ia3", config_file.string()});
  // Weights saved as a pickle only.
  with("peft_type", "LORA");
  fs::rename(adapter / "adapter_model.safetensors", adapter / "adapter_model.bin");
  expect_check_and_run_fail_alike(
      dir.path(), sft_pipeline(dir.path(), tiny_model(), adapter_table(adapter)),
      {(adapter / "adapter_model.safetensors").string(), "adapter_model.bin"});
}

TEST(AdapterFolder, CheckValidatesAGoodFolderWithoutWriting) {
  TempDir dir;
  const auto r = check_writes_nothing(
      dir.path(), write_pipeline(dir.path(), tiny_model(), stage_of("dpo", path_key(pref_data())),
                                 adapter_table(sft_adapter())));
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.output.find("ok"), std::string::npos) << r.output;
}

TEST(AdapterFolder, LogprobsAdapterWithoutConfigExits1NamingTheFile) {
  TempDir dir;
  const auto adapter = copy_of_adapter(dir.path());
  fs::remove(adapter / "adapter_config.json");
  const auto r =
      run_host({"logprobs", "--model", tiny_model().string(), "--adapter", adapter.string(),
                "--data", small_prefs(dir.path()).string(), "--out", (dir / "out.jsonl").string()},
               dir.path());
  expect_error(r, {(adapter / "adapter_config.json").string(), "missing"});
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

}  // namespace
}  // namespace rlhf::reliability
