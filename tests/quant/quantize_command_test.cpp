// `rlhf-host quantize` end to end: the saved directory has transformers' 4-bit keys and
// quantization_config, loads as-is (re-saving gives identical bytes), and matches quantizing
// the dense model in process. Bad settings exit non-zero with the key named.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "quant_nf4/nf4_quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

int run(const std::string& args, const fs::path& log) {
  const std::string cmd =
      std::string(RLHF_HOST_BINARY) + " " + args + " > " + log.string() + " 2>&1";
  return WEXITSTATUS(std::system(cmd.c_str()));
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(QuantizeCommand, WritesBitsandbytesCheckpointThatLoadsAsIs) {
  const fs::path dir = rlhf::test::process_temp_path("quantize_cmd");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path log = dir / "log.txt";
  ASSERT_EQ(run("init-model --out " + (dir / "tiny").string() +
                    " --corpus " RLHF_SOURCE_DIR
                    "/examples/tokenizer/corpus.txt --hidden-size 64 --seed 3 "
                    "--chat-template llama-2",
                log),
            0)
      << read(log);
  // A source without special_tokens_map.json: the output gets one.
  fs::remove(dir / "tiny" / "special_tokens_map.json");
  ASSERT_EQ(run("quantize --model " + (dir / "tiny").string() + " --quantizer nf4 --out " +
                    (dir / "nf4").string() + " --set double_quant=true --set blocksize=64",
                log),
            0)
      << read(log);

  const auto config = nlohmann::json::parse(read(dir / "nf4" / "config.json"));
  ASSERT_TRUE(config.contains("quantization_config")) << config.dump();
  const auto& q = config["quantization_config"];
  EXPECT_EQ(q["quant_method"], "bitsandbytes");
  EXPECT_EQ(q["load_in_4bit"], true);
  EXPECT_EQ(q["bnb_4bit_quant_type"], "nf4");
  EXPECT_EQ(q["bnb_4bit_use_double_quant"], true);
  EXPECT_EQ(q["bnb_4bit_quant_storage"], "uint8");
  EXPECT_TRUE(fs::exists(dir / "nf4" / "tokenizer.model"));
  // The tokenizer and its chat template travel unchanged; what transformers needs is all there.
  const auto tokenizer_config = nlohmann::json::parse(read(dir / "nf4" / "tokenizer_config.json"));
  EXPECT_EQ(tokenizer_config["chat_template"],
            nlohmann::json::parse(read(dir / "tiny" / "tokenizer_config.json"))["chat_template"]);
  EXPECT_EQ(nlohmann::json::parse(read(dir / "nf4" / "special_tokens_map.json"))["pad_token"],
            "</s>");
  EXPECT_EQ(read(dir / "nf4" / "generation_config.json"),
            read(dir / "tiny" / "generation_config.json"));

  rlhf::SafetensorsFile file(dir / "nf4" / "model.safetensors");
  const std::string p = "model.layers.1.mlp.down_proj.weight";
  for (const char* suffix : {"", ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
                             ".quant_state.bitsandbytes__nf4"})
    EXPECT_TRUE(file.contains(p + suffix)) << suffix;
  EXPECT_EQ(file.entry(p).dtype, "U8");
  EXPECT_EQ(file.entry("model.embed_tokens.weight").dtype, "F32");  // not quantized
  EXPECT_EQ(file.entry("lm_head.weight").dtype, "F32");

  // Loading the checkpoint takes the stored tensors; it equals quantizing the dense model.
  rlhf::nf4::NF4Quantizer loader(rlhf::Config::parse(""));
  rlhf::LoadOptions opts;
  opts.quantizer = &loader;
  const auto from_checkpoint = rlhf::load_causal_lm(dir / "nf4", opts);
  rlhf::nf4::NF4Quantizer fresh(rlhf::Config::parse("double_quant = true"));
  opts.quantizer = &fresh;
  const auto from_dense = rlhf::load_causal_lm(dir / "tiny", opts);
  for (auto& [name, linear] : from_checkpoint->named_linears())
    EXPECT_EQ(linear->weight()->format(), "nf4");
  const torch::Tensor ids = torch::randint(0, 100, {2, 6});
  const torch::Tensor mask = torch::ones({2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(from_checkpoint->forward(ids, mask), from_dense->forward(ids, mask)));

  // Quantizing the quantized checkpoint again loads it as-is: identical bytes.
  ASSERT_EQ(run("quantize --model " + (dir / "nf4").string() + " --quantizer nf4 --out " +
                    (dir / "nf4b").string(),
                log),
            0)
      << read(log);
  EXPECT_EQ(bytes_of(dir / "nf4" / "model.safetensors"),
            bytes_of(dir / "nf4b" / "model.safetensors"));

  EXPECT_NE(run("quantize --model " + (dir / "tiny").string() + " --quantizer nf4 --out " +
                    (dir / "bad").string() + " --set blocksiz=64",
                log),
            0);
  EXPECT_NE(read(log).find("'blocksiz': unknown key (did you mean 'blocksize'?)"),
            std::string::npos)
      << read(log);
  EXPECT_NE(run("quantize --model " + (dir / "tiny").string() + " --quantizer nf4 --out " +
                    (dir / "bad").string() + " --set blocksize=100",
                log),
            0);
  EXPECT_NE(read(log).find("unsupported blocksize 100"), std::string::npos) << read(log);
  EXPECT_FALSE(fs::exists(dir / "bad"));
  fs::remove_all(dir);
}

TEST(BenchQuantCommand, PrintsOneRowPerInstalledQuantizerIncludingThirdParty) {
  const fs::path dir = rlhf::test::process_temp_path("bench_quant_cmd");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path log = dir / "log.txt";
  ASSERT_EQ(run("init-model --out " + (dir / "tiny").string() +
                    " --corpus " RLHF_SOURCE_DIR "/examples/tokenizer/corpus.txt --seed 4",
                log),
            0)
      << read(log);
  // test_round lives outside the default plugin folder: found through --plugin-path only.
  ASSERT_EQ(
      run("bench-quant --model " + (dir / "tiny").string() +
              " --data " RLHF_SOURCE_DIR
              "/examples/data/polite_heldout.jsonl --max-examples 4 --iters 1 --plugin-path " +
              std::string(RLHF_TEST_PLUGIN_DIR) + "/good",
          log),
      0)
      << read(log);
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream lines(read(log));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cells(line);
    std::vector<std::string> c;
    for (std::string cell; cells >> cell;) c.push_back(cell);
    if (c.size() == 9) rows[c[0]] = c;
  }
  for (const char* name : {"none", "int8", "nf4", "test_round"})
    ASSERT_TRUE(rows.count(name)) << name << "\n" << read(log);
  const auto bytes = [&](const char* n) { return std::stoll(rows[n][2]); };
  const auto rel = [&](const char* n) { return std::stod(rows[n][3]); };
  EXPECT_LT(bytes("nf4"), bytes("int8"));
  EXPECT_LT(bytes("int8"), bytes("none"));
  EXPECT_EQ(rel("none"), 0.0);
  EXPECT_GT(rel("nf4"), 0.05);  // NF4 on Gaussian weights: about 0.09
  EXPECT_LT(rel("nf4"), 0.15);
  EXPECT_LT(rel("int8"), rel("nf4"));
  EXPECT_GT(std::stod(rows["nf4"][7]), 0.0);  // eval NLL
  fs::remove_all(dir);
}
