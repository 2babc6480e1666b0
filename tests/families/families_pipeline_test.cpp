// Issue 16's acceptance, run as a user runs it (tests/reliability/reliability_util.hpp): a tiny
// Llama-3 and a tiny Qwen2 folder from `init-model --family` (a byte-level BPE tokenizer.json and
// the family's instruct template as Jinja) go through SFT → DPO with `chat_template = "auto"`
// (the default), and what `export` and `quantize` write from the result loads and scores.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "family_chat_templates.hpp"
#include "reliability_util.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf::reliability {
namespace {

using Json = nlohmann::json;

struct Family {
  const char* name;
  const char* own_template;
  // What the template renders for one user turn "What is 2 plus 2?" with the generation prompt,
  // written out by hand from the published templates (host/family_chat_templates.hpp).
  const char* rendered_prompt;
};

const Family kFamilies[] = {
    {"llama3", host::kLlama3Instruct,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 plus "
     "2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"qwen2", host::kQwen25Instruct,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
     "assistant.<|im_end|>\n<|im_start|>user\nWhat is 2 plus "
     "2?<|im_end|>\n<|im_start|>assistant\n"},
};

class FamiliesPipeline : public ::testing::TestWithParam<Family> {};

std::vector<Json> read_jsonl(const fs::path& path) {
  std::vector<Json> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(Json::parse(line));
  return rows;
}

TEST_P(FamiliesPipeline, SftThenDpoWithItsOwnTemplateAndTheExportsLoad) {
  const Family& f = GetParam();
  test::TempDir dir;
  const fs::path model = dir.path() / f.name;
  HostResult r =
      run_host({"init-model", "--out", model.string(), "--corpus",
                (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size", "400",
                "--hidden-size", "32", "--intermediate-size", "64", "--family", f.name},
               dir.path(), 120);
  ASSERT_EQ(r.exit_code, 0) << r.describe();

  // The folder is what these families ship: tokenizer.json only, the Jinja template in
  // tokenizer_config.json, and a tokenizer that gives back the text it encoded.
  EXPECT_TRUE(fs::exists(model / "tokenizer.json"));
  EXPECT_FALSE(fs::exists(model / "tokenizer.model"));
  EXPECT_EQ(Json::parse(read_file(model / "tokenizer_config.json"))["chat_template"],
            f.own_template);
  const auto tokenizer = Tokenizer::load(model);
  const std::string text = read_file(kSource / "examples/data/polite_corpus.txt").substr(0, 4000);
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, false, false)), text);
  const auto chat = ChatTemplate::for_model("auto", model);
  EXPECT_TRUE(chat.is_jinja());
  EXPECT_EQ(chat.render_prompt({{"user", "What is 2 plus 2?"}}), f.rendered_prompt);

  // SFT then DPO with LoRA; no chat_template key, so "auto".
  const std::string data = "{ plugin = \"jsonl\", path = \"";
  write_file(dir.path() / "pipeline.toml",
             "[run]\noutput_dir = \"run\"\nseed = 1\nthreads = 1\n"
             "[model]\npath = \"" +
                 model.string() +
                 "\"\n"
                 "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\n"
                 "[[stage]]\nname = \"sft\"\nalgorithm = \"sft\"\nmax_steps = 3\n"
                 "per_device_train_batch_size = 2\nmax_length = 256\nlearning_rate = 1e-2\n"
                 "data = " +
                 data + sft_data().string() +
                 "\" }\n"
                 "[[stage]]\nname = \"dpo\"\nalgorithm = \"dpo\"\nmax_steps = 3\n"
                 "per_device_train_batch_size = 2\n"
                 "max_length = 256\nmax_prompt_length = 192\nlearning_rate = 1e-2\ndata = " +
                 data + pref_data().string() + "\" }\n");
  r = run_host({"pipeline.toml"}, dir.path(), 600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.output.find("chat_template = \"none\""), std::string::npos) << r.describe();
  const fs::path adapter = dir.path() / "run" / "dpo" / "adapter";
  ASSERT_TRUE(fs::exists(adapter / "adapter_model.safetensors")) << r.describe();
  // The result carries the template it was trained with: the model's own, verbatim.
  EXPECT_EQ(Json::parse(read_file(adapter / "tokenizer_config.json"))["chat_template"],
            f.own_template);
  EXPECT_TRUE(fs::exists(adapter / "tokenizer.json"));

  // export (the adapter SFT and DPO trained, merged) and quantize: both load as models, keep
  // the tokenizer and template, and score the pairs like the model + adapter they came from.
  const fs::path& base = model;
  const fs::path exported = dir.path() / "exported", quantized = dir.path() / "quantized";
  r = run_host({"export", "--model", base.string(), "--adapter", adapter.string(), "--out",
                exported.string()},
               dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  r = run_host(
      {"quantize", "--model", exported.string(), "--quantizer", "nf4", "--out", quantized.string()},
      dir.path(), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  for (const fs::path& out : {exported, quantized}) {
    EXPECT_EQ(Json::parse(read_file(out / "tokenizer_config.json"))["chat_template"],
              f.own_template)
        << out;
    EXPECT_EQ(Tokenizer::load(out)->encode(text), tokenizer->encode(text)) << out;
    EXPECT_EQ(Json::parse(read_file(out / "config.json"))["model_type"],
              f.name == std::string("qwen2") ? "qwen2" : "llama")
        << out;
  }
  EXPECT_EQ(load_causal_lm(exported)->config().architecture,
            load_causal_lm(model)->config().architecture);
  // logprobs loads the 4-bit folder through its quantization_config.
  const auto logprobs = [&](const std::vector<std::string>& model_args, const std::string& name) {
    std::vector<std::string> args = {
        "logprobs",        "--data", pref_data().string(), "--out", (dir.path() / name).string(),
        "--chat-template", "auto"};
    args.insert(args.end(), model_args.begin(), model_args.end());
    const HostResult lr = run_host(args, dir.path(), 300);
    EXPECT_EQ(lr.exit_code, 0) << lr.describe();
    return read_jsonl(dir.path() / name);
  };
  const auto trained = logprobs({"--model", base.string(), "--adapter", adapter.string()}, "a");
  const auto merged = logprobs({"--model", exported.string()}, "b");
  const auto four_bit = logprobs({"--model", quantized.string()}, "c");
  ASSERT_EQ(trained.size(), merged.size());
  ASSERT_EQ(trained.size(), four_bit.size());
  double nf4_gap = 0;
  for (std::size_t i = 0; i < trained.size(); ++i) {
    const double a = trained[i]["chosen_logps"], b = merged[i]["chosen_logps"],
                 c = four_bit[i]["chosen_logps"];
    EXPECT_NEAR(b, a, 1e-4 * std::abs(a)) << "row " << i;
    nf4_gap = std::max(nf4_gap, std::abs(c - a) / std::abs(a));
  }
  // 4-bit weights move the scores a little, not arbitrarily.
  EXPECT_LT(nf4_gap, 0.2);
}

INSTANTIATE_TEST_SUITE_P(Tiny, FamiliesPipeline, ::testing::ValuesIn(kFamilies),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace rlhf::reliability
