// complete_saved_folder(): what a saved model / adapter folder gets next to its weights, checked
// against the files transformers and PEFT read, and read back by our own Tokenizer.
#include "rlhf/tokenizer_files.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  return json::parse(in);
}

void write_json(const fs::path& p, const json& j) { std::ofstream(p) << j.dump(2); }

// A source model folder: the tiny model's files, then `edit` applied.
fs::path source_model(const rlhf::test::TempDir& dir) {
  const fs::path src = dir.path() / "source";
  fs::create_directories(src);
  for (const auto& e : fs::directory_iterator(rlhf::test::tiny_model_dir()))
    fs::copy_file(e.path(), src / e.path().filename());
  return src;
}

// A saved model folder as CausalLM::save_pretrained writes it, from the source's weights.
fs::path saved_model(const fs::path& source, const fs::path& out) {
  rlhf::load_causal_lm(source)->save_pretrained(out);
  return out;
}

}  // namespace

TEST(InitModel, WritesEveryTokenizerFileWithItsChatTemplate) {
  rlhf::test::TempDir dir;
  rlhf::test::run_subcommand("init-model", {"--out",
                                            (dir.path() / "m").string(),
                                            "--corpus",
                                            rlhf::test::corpus_path().string(),
                                            "--hidden-size",
                                            "16",
                                            "--intermediate-size",
                                            "32",
                                            "--heads",
                                            "2",
                                            "--kv-heads",
                                            "1",
                                            "--layers",
                                            "1",
                                            "--vocab-size",
                                            "400",
                                            "--max-position-embeddings",
                                            "512",
                                            "--chat-template",
                                            "chatml"});
  const fs::path m = dir.path() / "m";
  const json config = read_json(m / "tokenizer_config.json");
  EXPECT_EQ(config["chat_template"], rlhf::ChatTemplate::get("chatml").jinja());
  EXPECT_EQ(config["tokenizer_class"], "LlamaTokenizer");
  EXPECT_EQ(config["add_bos_token"], true);
  EXPECT_EQ(config["add_eos_token"], false);
  EXPECT_EQ(config["pad_token"], "</s>");      // no pad token of its own: eos, as TRL sets it
  EXPECT_EQ(config["model_max_length"], 512);  // max_position_embeddings
  const json map = read_json(m / "special_tokens_map.json");
  EXPECT_EQ(map["bos_token"], "<s>");
  EXPECT_EQ(map["eos_token"], "</s>");
  EXPECT_EQ(map["unk_token"], "<unk>");
  EXPECT_EQ(map["pad_token"], "</s>");
  const auto tokenizer = rlhf::Tokenizer::load(m);
  const json gen = read_json(m / "generation_config.json");
  EXPECT_EQ(gen["bos_token_id"], 1);
  // eos, then chatml's end of turn, a single token of this tokenizer
  const auto im_end = tokenizer->token_to_id("<|im_end|>");
  ASSERT_GE(im_end, 3);
  EXPECT_EQ(gen["eos_token_id"], json::array({2, im_end}));
  EXPECT_EQ(gen["pad_token_id"], 2);
  EXPECT_THROW(rlhf::test::run_subcommand(
                   "init-model", {"--out", (dir.path() / "n").string(), "--chat-template", "x"}),
               rlhf::Error);
}

TEST(CompleteSavedFolder, ModelFolderTakesTheSourcesTokenizerAndGenerationSettings) {
  rlhf::test::TempDir dir;
  const fs::path src = source_model(dir);
  // A source like a Hub download: a fast-tokenizer file, added tokens, sampling defaults, a
  // chat template of its own, an AddedToken object for bos, a longer model_max_length.
  std::ofstream(src / "tokenizer.json") << R"({"version": "1.0", "model": {"type": "BPE"}})";
  std::ofstream(src / "added_tokens.json") << "{}";
  json cfg = read_json(src / "tokenizer_config.json");
  cfg["chat_template"] = "{{ messages }}";
  cfg["model_max_length"] = 4096;
  write_json(src / "tokenizer_config.json", cfg);
  // special_tokens_map.json as transformers writes it: AddedToken objects.
  json map = read_json(src / "special_tokens_map.json");
  const json bos = {{"content", "<s>"},
                    {"lstrip", false},
                    {"normalized", false},
                    {"rstrip", false},
                    {"single_word", false}};
  map["bos_token"] = bos;
  write_json(src / "special_tokens_map.json", map);
  write_json(src / "generation_config.json",
             {{"bos_token_id", 1}, {"eos_token_id", 2}, {"temperature", 0.6}, {"top_p", 0.9}});

  const fs::path out = saved_model(src, dir.path() / "out");
  EXPECT_FALSE(fs::exists(out / "tokenizer.model")) << "save_pretrained knows no tokenizer";
  // save_pretrained alone: the config's ids (GenerationConfig.from_model_config).
  EXPECT_EQ(read_json(out / "generation_config.json"),
            json({{"bos_token_id", 1}, {"eos_token_id", 2}}));

  rlhf::complete_saved_folder(out, rlhf::SavedFolder::model, src, "zephyr");
  for (const char* f : {"tokenizer.model", "tokenizer.json", "added_tokens.json"}) {
    std::ifstream a(src / f, std::ios::binary), b(out / f, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}),
              std::string(std::istreambuf_iterator<char>(b), {}))
        << f;
  }
  const json config = read_json(out / "tokenizer_config.json");
  EXPECT_EQ(config["chat_template"], rlhf::ChatTemplate::get("zephyr").jinja());
  EXPECT_EQ(config["model_max_length"], 4096);
  EXPECT_EQ(config["bos_token"], bos) << "an AddedToken object stays one";
  EXPECT_EQ(read_json(out / "special_tokens_map.json")["bos_token"], bos);
  EXPECT_EQ(config["legacy"], false) << "the source's tokenization settings are kept";
  const json gen = read_json(out / "generation_config.json");
  EXPECT_EQ(gen["temperature"], 0.6);
  EXPECT_EQ(gen["top_p"], 0.9);
  EXPECT_EQ(gen["eos_token_id"], 2);  // zephyr's end of turn is eos itself
  EXPECT_EQ(gen["pad_token_id"], 2);

  // Our own reader sees the same tokenizer in the saved folder as in the source.
  const auto a = rlhf::Tokenizer::load(src), b = rlhf::Tokenizer::load(out);
  EXPECT_EQ(b->bos_id(), a->bos_id());
  EXPECT_EQ(b->eos_id(), a->eos_id());
  EXPECT_EQ(b->pad_id(), a->pad_id());
  EXPECT_EQ(b->add_bos_token(), a->add_bos_token());
  const std::string text = "<|user|>\nHello there, how are you?</s>\n<|assistant|>\n";
  EXPECT_EQ(b->encode(text), a->encode(text));

  // nullopt keeps the source's own template.
  rlhf::complete_saved_folder(out, rlhf::SavedFolder::model, src, std::nullopt);
  EXPECT_EQ(read_json(out / "tokenizer_config.json")["chat_template"], "{{ messages }}");
}

TEST(CompleteSavedFolder, KeepsARealPadTokenAndDropsOneTheTokenizerCannotUse) {
  rlhf::test::TempDir dir;
  const fs::path src = source_model(dir);
  json map = read_json(src / "special_tokens_map.json");
  map["pad_token"] = "<unk>";
  write_json(src / "special_tokens_map.json", map);
  const fs::path out = saved_model(src, dir.path() / "out");
  rlhf::complete_saved_folder(out, rlhf::SavedFolder::model, src, "none");
  EXPECT_EQ(read_json(out / "tokenizer_config.json")["pad_token"], "<unk>");
  EXPECT_EQ(read_json(out / "generation_config.json")["pad_token_id"], 0);
  EXPECT_EQ(rlhf::Tokenizer::load(out)->pad_id(), 0);

  // A pad token that is no token: the tokenizer pads with eos, and so does the saved folder.
  map["pad_token"] = "<nonexistent-pad>";
  write_json(src / "special_tokens_map.json", map);
  const fs::path out2 = saved_model(src, dir.path() / "out2");
  rlhf::complete_saved_folder(out2, rlhf::SavedFolder::model, src, "none");
  EXPECT_EQ(read_json(out2 / "special_tokens_map.json")["pad_token"], "</s>");
  EXPECT_EQ(read_json(out2 / "generation_config.json")["pad_token_id"], 2);
}

TEST(CompleteSavedFolder, AdapterFolderNamesItsBaseAndCarriesTheTokenizer) {
  rlhf::test::TempDir dir;
  const fs::path src = source_model(dir);
  const fs::path adapter = dir.path() / "adapter";
  fs::create_directories(adapter);
  write_json(adapter / "adapter_config.json",
             {{"peft_type", "LORA"}, {"r", 4}, {"base_model_name_or_path", nullptr}});
  rlhf::complete_saved_folder(adapter, rlhf::SavedFolder::adapter, src, "mistral");
  const json config = read_json(adapter / "adapter_config.json");
  EXPECT_EQ(config["base_model_name_or_path"], src.string());
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(read_json(adapter / "tokenizer_config.json")["chat_template"],
            rlhf::ChatTemplate::get("mistral").jinja());
  EXPECT_TRUE(fs::exists(adapter / "tokenizer.model"));
  EXPECT_TRUE(fs::exists(adapter / "special_tokens_map.json"));
  // PEFT's save_pretrained writes no generation_config.json or config.json.
  EXPECT_FALSE(fs::exists(adapter / "generation_config.json"));
  EXPECT_FALSE(fs::exists(adapter / "config.json"));
}

TEST(CompleteSavedFolder, ABrokenSourceFileIsAnErrorNamingIt) {
  rlhf::test::TempDir dir;
  const fs::path src = source_model(dir);
  const fs::path out = saved_model(src, dir.path() / "out");
  std::ofstream(src / "generation_config.json") << "[1, 2";
  try {
    rlhf::complete_saved_folder(out, rlhf::SavedFolder::model, src, "none");
    FAIL() << "no error";
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find((src / "generation_config.json").string()),
              std::string::npos)
        << e.what();
  }
}
