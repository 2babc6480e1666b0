// `rlhf-host init-model --family llama3|qwen2` and a short SFT stage on what it wrote, run as a
// user runs them (tests/reliability/reliability_util.hpp); a config.json with a rope scaling
// type rlhf-host does not implement is one error line naming the field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "reliability_util.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::reliability {
namespace {

using Json = nlohmann::json;

fs::path init_family(const fs::path& dir, const std::string& family,
                     const std::vector<std::string>& more = {}) {
  const fs::path out = dir / family;
  std::vector<std::string> args = {"init-model",
                                   "--out",
                                   out.string(),
                                   "--corpus",
                                   (kSource / "examples/data/polite_corpus.txt").string(),
                                   "--vocab-size",
                                   "400",
                                   "--hidden-size",
                                   "32",
                                   "--intermediate-size",
                                   "64",
                                   "--family",
                                   family};
  args.insert(args.end(), more.begin(), more.end());
  const HostResult r = run_host(args, dir, 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return out;
}

Json config_of(const fs::path& dir) { return Json::parse(read_file(dir / "config.json")); }

HostResult run_sft(const fs::path& dir, const fs::path& model, const std::string& extra = "") {
  const fs::path p = write_pipeline(dir, model, sft_stage(sft_data().string(), 2), extra);
  return run_host({p.string()}, dir, 300);
}

TEST(FamiliesBinary, Llama3FolderTrainsWithSft) {
  test::TempDir dir;
  const fs::path model = init_family(dir.path(), "llama3");
  const Json c = config_of(model);
  EXPECT_EQ(c["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(c["rope_theta"], 500000.0);
  EXPECT_EQ(c["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(c["rope_scaling"]["factor"], 8.0);
  EXPECT_EQ(c["rope_scaling"]["original_max_position_embeddings"], 8192);
  EXPECT_EQ(c["tie_word_embeddings"], false);
  EXPECT_TRUE(SafetensorsCheckpoint(model).contains("lm_head.weight"));

  const HostResult r = run_sft(dir.path(), model);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // write_pipeline names zephyr, whose end of turn "</s>" a Llama-3 vocabulary does not have.
  EXPECT_NE(r.output.find("chat template 'zephyr' ends an assistant turn with '</s>', which is "
                          "not a token of"),
            std::string::npos)
      << r.describe();
  const fs::path trained = dir.path() / "run" / "sft" / "model";
  EXPECT_EQ(config_of(trained)["rope_scaling"], c["rope_scaling"]);
  EXPECT_EQ(load_causal_lm(trained)->config().rope_type, "llama3");
}

TEST(FamiliesBinary, Qwen2FolderTrainsWithSftAndQuantizes) {
  test::TempDir dir;
  const fs::path model = init_family(
      dir.path(), "qwen2", {"--layers", "2", "--sliding-window", "4", "--max-window-layers", "1"});
  const Json c = config_of(model);
  EXPECT_EQ(c["architectures"][0], "Qwen2ForCausalLM");
  EXPECT_EQ(c["model_type"], "qwen2");
  EXPECT_EQ(c["rope_theta"], 1000000.0);
  EXPECT_EQ(c["use_sliding_window"], true);
  EXPECT_EQ(c["sliding_window"], 4);
  EXPECT_EQ(c["max_window_layers"], 1);
  const SafetensorsCheckpoint ckpt(model);
  EXPECT_TRUE(ckpt.contains("model.layers.1.self_attn.v_proj.bias"));
  EXPECT_FALSE(ckpt.contains("model.layers.1.self_attn.o_proj.bias"));

  // Full fine-tuning, then LoRA on every linear: the biases stay with their projections.
  HostResult r = run_sft(dir.path(), model);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(SafetensorsCheckpoint(dir.path() / "run" / "sft" / "model")
                  .contains("model.layers.0.self_attn.q_proj.bias"));
  fs::remove_all(dir.path() / "run");
  r = run_sft(dir.path(), model,
              "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\ntarget_modules = \"all-linear\"\n");
  ASSERT_EQ(r.exit_code, 0) << r.describe();

  // NF4 quantizes the weights; the biases are kept dense and the folder loads again.
  const fs::path q = dir.path() / "q";
  r = run_host({"quantize", "--model", model.string(), "--quantizer", "nf4", "--out", q.string()},
               dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const SafetensorsCheckpoint quantized(q);
  EXPECT_TRUE(quantized.contains("model.layers.0.self_attn.k_proj.bias"));
  EXPECT_FALSE(quantized.contains("model.layers.0.self_attn.o_proj.bias"));
  EXPECT_EQ(config_of(q)["model_type"], "qwen2");
}

TEST(FamiliesBinary, UnsupportedRopeScalingIsOneErrorLine) {
  test::TempDir dir;
  const fs::path model = init_family(dir.path(), "llama3");
  Json c = config_of(model);
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  write_file(model / "config.json", c.dump(2));
  const HostResult r = run_sft(dir.path(), model);
  expect_error(r, {"config.json", "rope_scaling", "yarn"});
  EXPECT_FALSE(fs::exists(dir.path() / "run" / "sft" / "model"));
}

TEST(FamiliesBinary, FamilyAndArchitectureTogetherIsAUsageError) {
  test::TempDir dir;
  const HostResult r = run_host({"init-model", "--out", (dir.path() / "m").string(), "--family",
                                 "qwen2", "--architecture", "mistral"},
                                dir.path(), 60);
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.output.find("--family"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace rlhf::reliability
