// The folders a pipeline saves, through the real rlhf-host binary: `model/` holds what
// transformers' AutoModelForCausalLM + AutoTokenizer read (weights, config, tokenizer files,
// tokenizer_config.json with the stage's chat template, special_tokens_map.json,
// generation_config.json) and is the `model.path` of a next pipeline; `adapter/` names its base
// model and carries the tokenizer, as after a TRL + PEFT run; `generate` reads both pipelines'
// model folders.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kHost = RLHF_HOST_BINARY;
const std::string kSource = RLHF_SOURCE_DIR;

int run(const std::string& command, const fs::path& log) {
  return std::system((command + " > " + log.string() + " 2>&1").c_str());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  return json::parse(in);
}

// A pipeline of one `sft` stage on `model`, 2 steps.
void write_pipeline(const fs::path& file, const fs::path& out, const fs::path& model,
                    const std::string& chat_template, const std::string& adapter) {
  std::ofstream(file) << "[run]\noutput_dir = \"" << out.string()
                      << "\"\nseed = 2\n[model]\npath = \"" << model.string()
                      << "\"\nchat_template = \"" << chat_template << "\"\n"
                      << adapter
                      << "[[stage]]\nname = \"sft\"\nalgorithm = \"sft\"\nmax_steps = 2\n"
                         "per_device_train_batch_size = 2\nlearning_rate = 1e-3\n"
                         "data = { plugin = \"jsonl\", path = \""
                      << kSource << "/examples/data/polite_sft.jsonl\", sample_ratio = 0.02 }\n";
}

}  // namespace

TEST(SavedFolders, ModelOfOnePipelineIsTheModelOfTheNextAndAdaptersNameTheirBase) {
  const fs::path dir = rlhf::test::process_temp_path("saved-folders");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path log = dir / "log.txt";
  ASSERT_EQ(run(kHost + " init-model --out " + (dir / "base").string() + " --corpus " + kSource +
                    "/examples/data/polite_corpus.txt --vocab-size 400 --hidden-size 32 "
                    "--intermediate-size 64 --max-position-embeddings 256",
                log),
            0)
      << read_file(log);

  // Pipeline 1: full fine-tune with chatml → run1/sft/model.
  write_pipeline(dir / "one.toml", dir / "run1", dir / "base", "chatml", "");
  ASSERT_EQ(run(kHost + " " + (dir / "one.toml").string(), log), 0) << read_file(log);
  const fs::path model = dir / "run1/sft/model";
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
        "special_tokens_map.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(model / f)) << f;
  EXPECT_EQ(read_file(model / "tokenizer.model"), read_file(dir / "base/tokenizer.model"));
  const json tokenizer_config = read_json(model / "tokenizer_config.json");
  EXPECT_EQ(tokenizer_config["chat_template"], rlhf::ChatTemplate::get("chatml").jinja());
  EXPECT_EQ(tokenizer_config["tokenizer_class"], "LlamaTokenizer");
  EXPECT_EQ(tokenizer_config["add_bos_token"], true);
  EXPECT_EQ(tokenizer_config["bos_token"], "<s>");
  EXPECT_EQ(tokenizer_config["eos_token"], "</s>");
  EXPECT_EQ(tokenizer_config["unk_token"], "<unk>");
  EXPECT_EQ(tokenizer_config["pad_token"], "</s>");
  EXPECT_EQ(tokenizer_config["model_max_length"], 256);  // the model's max_position_embeddings
  const json map = read_json(model / "special_tokens_map.json");
  EXPECT_EQ(map["pad_token"], "</s>");
  const auto tokenizer = rlhf::Tokenizer::load(model);
  const json gen = read_json(model / "generation_config.json");
  EXPECT_EQ(gen["bos_token_id"], tokenizer->bos_id());
  EXPECT_EQ(gen["eos_token_id"],
            json::array({tokenizer->eos_id(), tokenizer->token_to_id("<|im_end|>")}));
  EXPECT_EQ(gen["pad_token_id"], tokenizer->pad_id());
  EXPECT_EQ(read_json(model / "config.json")["architectures"][0], "LlamaForCausalLM");

  // Pipeline 2 starts from that folder, with a LoRA adapter and the zephyr template.
  write_pipeline(dir / "two.toml", dir / "run2", model, "zephyr",
                 "[adapter]\nplugin = \"lora\"\nr = 4\n");
  ASSERT_EQ(run(kHost + " " + (dir / "two.toml").string(), log), 0) << read_file(log);
  const fs::path adapter = dir / "run2/sft/adapter";
  const json adapter_config = read_json(adapter / "adapter_config.json");
  EXPECT_EQ(adapter_config["base_model_name_or_path"], model.string());
  EXPECT_EQ(adapter_config["peft_type"], "LORA");
  EXPECT_TRUE(fs::exists(adapter / "adapter_model.safetensors"));
  EXPECT_EQ(read_file(adapter / "tokenizer.model"), read_file(model / "tokenizer.model"));
  EXPECT_EQ(read_json(adapter / "tokenizer_config.json")["chat_template"],
            rlhf::ChatTemplate::get("zephyr").jinja());
  EXPECT_TRUE(fs::exists(adapter / "special_tokens_map.json"));

  // `generate` reads the saved model with the template it was trained with (its
  // tokenizer_config.json): the same completions as naming chatml.
  const std::string generate = kHost + " generate --model " + model.string() +
                               " --prompt 'Could you help me?' --max-new-tokens 6 --out ";
  ASSERT_EQ(run(generate + (dir / "own.jsonl").string(), log), 0) << read_file(log);
  ASSERT_EQ(run(generate + (dir / "chatml.jsonl").string() + " --chat-template chatml", log), 0)
      << read_file(log);
  EXPECT_EQ(read_file(dir / "own.jsonl"), read_file(dir / "chatml.jsonl"));
  EXPECT_EQ(read_json(dir / "own.jsonl")["prompt"], "Could you help me?");
}
