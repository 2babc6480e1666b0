// `rlhf-host export` through the binary: base + adapter merged into a Hugging Face folder gives
// the log-probs of base + adapter live (`logprobs --adapter`); merging into an NF4 base
// dequantizes each projection once (checked weight by weight against dequantize + delta) and
// says so; --quantizer nf4 writes a 4-bit folder that loads as stored; bad input leaves nothing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "../reliability/peft_fixtures.hpp"
#include "checkpoint_quantizer.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::reliability {
namespace {

HostResult export_model(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "export");
  return run_host(args, dir, 300);
}

// Every pair's chosen and rejected log-prob of `a` within `rel` (relative) of `b`'s.
void expect_same_logprobs(const std::vector<nlohmann::json>& a,
                          const std::vector<nlohmann::json>& b, double rel) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    for (const char* side : {"chosen_logps", "rejected_logps"}) {
      const double want = b[i][side].get<double>();
      EXPECT_NEAR(a[i][side].get<double>(), want, rel * std::abs(want)) << side << " pair " << i;
    }
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(Export, MergedFolderGivesTheLogprobsOfBasePlusAdapterLive) {
  TempDir dir;
  const auto data = small_prefs(dir.path());
  const auto r = export_model(dir.path(), {"--model", tiny_model().string(), "--adapter",
                                           sft_adapter().string(), "--out", (dir / "m").string()});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.output.find("dequantized"), std::string::npos) << r.output;  // a dense base
  // Every file of the source folder: its weights and config.json rewritten, the others (the
  // tokenizer, generation_config.json, …) copied.
  for (const auto& entry : fs::directory_iterator(tiny_model()))
    EXPECT_TRUE(fs::exists(dir / "m" / entry.path().filename())) << entry.path();
  const auto config = nlohmann::json::parse(read_file(dir / "m/config.json"));
  EXPECT_FALSE(config.contains("quantization_config"));
  EXPECT_EQ(config["torch_dtype"], "float32");

  const auto live = logprobs(tiny_model(), data, dir / "live.jsonl", sft_adapter());
  const auto merged = logprobs(dir / "m", data, dir / "merged.jsonl");
  expect_same_logprobs(merged, live, 1e-4);
  const auto base = logprobs(tiny_model(), data, dir / "base.jsonl");
  EXPECT_GT(std::abs(base[0]["chosen_logps"].get<double>() - live[0]["chosen_logps"].get<double>()),
            1e-2);  // the adapter matters: the comparison is not vacuous
}

TEST(Export, MergingIntoAnNf4BaseDequantizesOnceAndSaysSo) {
  TempDir dir;
  const auto r = export_model(dir.path(), {"--model", nf4_model().string(), "--adapter",
                                           sft_adapter().string(), "--out", (dir / "m").string()});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(count_of(r.output, "dequantized"), 1) << r.output;
  EXPECT_NE(r.output.find("dequantized each of the 14 nf4 projections"), std::string::npos)
      << r.output;

  // Each merged weight is dequantize(W) + scaling · B·A in float32, rounded once: the stored NF4
  // weights dequantized here, through the host's own loader, and the adapter's tensors.
  host::PluginRegistry registry(host::plugin_search_path({}));
  const auto nf4 = host::quantizer_for_model(registry, nf4_model(), nullptr, "");
  LoadOptions load;
  load.quantizer = nf4.get();
  const auto base = load_causal_lm(nf4_model(), load);
  SafetensorsFile adapter(sft_adapter() / "adapter_model.safetensors");
  SafetensorsCheckpoint merged(dir / "m");
  const double scaling = 8.0 / 4.0;  // lora_alpha / r of sft_adapter()
  torch::NoGradGuard no_grad;
  int targets = 0;
  for (const auto& [path, linear] : base->named_linears()) {
    torch::Tensor want = linear->weight()->dense(torch::kFloat32);
    const std::string key = "base_model.model." + path + ".lora_A.weight";
    if (adapter.contains(key)) {
      const auto b = adapter.load("base_model.model." + path + ".lora_B.weight");
      want = want + torch::matmul(b, adapter.load(key)) * scaling;
      ++targets;
    }
    EXPECT_TRUE(torch::allclose(merged.load(path + ".weight"), want, 0.0, 1e-6)) << path;
  }
  EXPECT_EQ(targets, 4);  // q_proj and v_proj of 2 layers

  const auto data = small_prefs(dir.path());
  expect_same_logprobs(logprobs(dir / "m", data, dir / "merged.jsonl"),
                       logprobs(nf4_model(), data, dir / "live.jsonl", sft_adapter()), 1e-4);
}

TEST(Export, QuantizerNf4WritesA4BitFolderThatLoadsAsStored) {
  TempDir dir;
  ASSERT_EQ(export_model(dir.path(), {"--model", tiny_model().string(), "--adapter",
                                      sft_adapter().string(), "--out", (dir / "dense").string()})
                .exit_code,
            0);
  const auto r = export_model(
      dir.path(), {"--model", tiny_model().string(), "--adapter", sft_adapter().string(), "--out",
                   (dir / "q").string(), "--quantizer", "nf4", "--set", "double_quant=true"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto config = nlohmann::json::parse(read_file(dir / "q/config.json"));
  EXPECT_EQ(config["quantization_config"]["bnb_4bit_quant_type"], "nf4");
  EXPECT_EQ(config["quantization_config"]["bnb_4bit_use_double_quant"], true);
  EXPECT_EQ(SafetensorsFile(dir / "q/model.safetensors")
                .entry("model.layers.0.self_attn.q_proj.weight")
                .dtype,
            "U8");
  // The same as quantizing the dense export afterwards.
  const auto q = run_host({"quantize", "--model", (dir / "dense").string(), "--quantizer", "nf4",
                           "--set", "double_quant=true", "--out", (dir / "dense-q").string()},
                          dir.path());
  ASSERT_EQ(q.exit_code, 0) << q.describe();
  const auto data = small_prefs(dir.path());
  expect_same_logprobs(logprobs(dir / "q", data, dir / "q.jsonl"),
                       logprobs(dir / "dense-q", data, dir / "dense-q.jsonl"), 1e-6);
}

TEST(Export, BadInputExitsNonZeroAndLeavesNothing) {
  TempDir dir;
  fs::create_directories(dir / "bad");
  write_file(dir / "bad/adapter_config.json", "{\"peft_type\": \"LORA\", \"r\": 4}");
  const auto before = tree(dir.path());
  auto r = export_model(dir.path(), {"--model", tiny_model().string(), "--adapter",
                                     (dir / "bad").string(), "--out", (dir / "m").string()});
  expect_error(r, {(dir / "bad/adapter_model.safetensors").string(), "missing"});
  EXPECT_EQ(tree(dir.path()), before) << "a failed export left files";
  r = export_model(dir.path(), {"--model", tiny_model().string(), "--out", (dir / "m").string(),
                                "--dtype", "float16"});
  expect_error(r, {"--dtype", "float16"});
  r = export_model(dir.path(), {"--model", tiny_model().string(), "--out", (dir / "m").string(),
                                "--set", "double_quant=true"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  // An existing folder is replaced only with --force.
  r = export_model(dir.path(), {"--model", tiny_model().string(), "--out", (dir / "bad").string()});
  expect_error(r, {"already exists", "--force"});
  EXPECT_TRUE(fs::exists(dir / "bad/adapter_config.json"));
  EXPECT_EQ(tree(dir.path()), before);
}

}  // namespace
}  // namespace rlhf::reliability
