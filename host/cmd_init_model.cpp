// `rlhf-host init-model`: writes a random-initialised Hugging Face model directory (config.json,
// model.safetensors, generation_config.json, tokenizer_config.json with a chat template) with a
// tokenizer trained on a text corpus — sentencepiece for Llama/Mistral, the byte-level BPE
// tokenizer.json and the instruct template of Llama-3 / Qwen2 — the tiny models tests and
// examples run on, made on demand instead of committed.
#include <boost/program_options.hpp>
#include <iostream>

#include "family_chat_templates.hpp"
#include "model_output.hpp"
#include "rlhf/error.hpp"
#include "rlhf/tokenizer_files.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// Chat markers of the zephyr and chatml templates become single tokens.
const std::vector<std::string> kChatSymbols = {"<|system|>", "<|user|>", "<|assistant|>",
                                               "<|im_start|>", "<|im_end|>"};

// The chat template a byte-level BPE folder of `model_type` gets: its family's instruct template.
const char* family_chat_template(const std::string& model_type) {
  return model_type == "qwen2" ? rlhf::host::kQwen25Instruct : rlhf::host::kLlama3Instruct;
}

int run_init_model(const std::vector<std::string>& args) {
  std::string out, corpus, config_file, architecture, family, dtype, chat_template, tokenizer_kind;
  int vocab = 0;
  std::int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, max_pos = 0;
  std::int64_t sliding_window = 0, max_window_layers = 0;
  double rope_theta = 0;
  std::uint64_t seed = 0;
  bool tie = false, force = false;
  po::options_description opts(
      "rlhf-host init-model --out DIR [--corpus FILE] [options]\n"
      "Writes a random-initialised Llama/Mistral/Qwen2 model directory with a trained tokenizer");
  opts.add_options()("help,h", "show this help")("out", po::value(&out)->required(),
                                                 "output model directory")(
      "corpus", po::value(&corpus)->default_value("examples/tokenizer/corpus.txt"),
      "text corpus to train the tokenizer on (one sentence per line)")(
      "tokenizer", po::value(&tokenizer_kind),
      "sentencepiece (tokenizer.model; the default for llama, mistral and --config) | "
      "byte-level-bpe (tokenizer.json; the default for llama3 and qwen2)")(
      "config", po::value(&config_file),
      "config.json to start from (its vocab_size is replaced by the tokenizer's)")(
      "vocab-size", po::value(&vocab)->default_value(512), "tokenizer vocabulary size")(
      "architecture", po::value(&architecture)->default_value("llama"), "llama | mistral")(
      "family", po::value(&family),
      "llama | mistral | llama3 (Llama 3.1 rope scaling, rope theta 500000) | qwen2 (q/k/v "
      "biases, rope theta 1000000); replaces --architecture")(
      "hidden-size", po::value(&hidden)->default_value(64), "H")(
      "intermediate-size", po::value(&intermediate)->default_value(128), "I")(
      "layers", po::value(&layers)->default_value(2), "number of decoder layers")(
      "heads", po::value(&heads)->default_value(4), "attention heads")(
      "kv-heads", po::value(&kv_heads)->default_value(2), "key/value heads (GQA)")(
      "max-position-embeddings", po::value(&max_pos)->default_value(2048), "context length")(
      "sliding-window", po::value(&sliding_window)->default_value(0),
      "Mistral or Qwen2 sliding window (0 = none)")(
      "max-window-layers", po::value(&max_window_layers)->default_value(0),
      "Qwen2: the layers from this one on use the sliding window")(
      "rope-theta", po::value(&rope_theta)->default_value(10000.0), "RoPE base")(
      "tie-embeddings", po::bool_switch(&tie), "tie lm_head to the embeddings")(
      "dtype", po::value(&dtype)->default_value("float32"), "float32 | bfloat16")(
      "seed", po::value(&seed)->default_value(0), "seed of the random weights")(
      "chat-template", po::value(&chat_template)->default_value("family"),
      "chat template written into tokenizer_config.json: family (a byte-level BPE tokenizer: "
      "the family's instruct template, Llama-3's or Qwen2.5's; sentencepiece: none) | zephyr | "
      "chatml | llama-2 | mistral | mistral-v0.2 | mistral-v0.3 | none (the named ones need "
      "sentencepiece)")("force", po::bool_switch(&force), "replace an existing output directory");
  po::variables_map vm;
  if (!rlhf::host::parse_subcommand_options("init-model", opts, args, vm)) return 0;

  rlhf::ModelConfig config;
  if (!config_file.empty()) {
    config = rlhf::ModelConfig::from_json_file(config_file);
  } else {
    if (vm.count("family")) {
      if (!vm["architecture"].defaulted())
        throw rlhf::host::UsageError("init-model: give --family or --architecture, not both");
      architecture = family;
    }
    if (architecture != "llama" && architecture != "mistral" && architecture != "llama3" &&
        architecture != "qwen2")
      throw rlhf::Error(
          "init-model: --family (or --architecture) must be llama, mistral, llama3 or qwen2, not "
          "'" +
          architecture + "'");
    if (heads < 1 || hidden % heads != 0)
      throw rlhf::Error("init-model: --hidden-size " + std::to_string(hidden) +
                        " must be a multiple of --heads " + std::to_string(heads));
    config.model_type = architecture == "llama3" ? "llama" : architecture;
    config.architecture = architecture == "mistral" ? "MistralForCausalLM"
                          : architecture == "qwen2" ? "Qwen2ForCausalLM"
                                                    : "LlamaForCausalLM";
    if (architecture == "llama3") {
      // Llama 3.1's rope_scaling (config.json of Llama-3.1-8B).
      config.rope_type = "llama3";
      config.rope_scaling_factor = 8.0;
      config.rope_low_freq_factor = 1.0;
      config.rope_high_freq_factor = 4.0;
      config.rope_original_max_position_embeddings = 8192;
      if (vm["rope-theta"].defaulted()) rope_theta = 500000.0;
    }
    if (architecture == "qwen2") {
      config.max_window_layers = max_window_layers;
      if (vm["rope-theta"].defaulted()) rope_theta = 1000000.0;
    }
    config.hidden_size = hidden;
    config.intermediate_size = intermediate;
    config.num_hidden_layers = layers;
    config.num_attention_heads = heads;
    config.num_key_value_heads = kv_heads;
    config.head_dim = heads > 0 ? hidden / heads : 0;
    config.max_position_embeddings = max_pos;
    config.rope_theta = rope_theta;
    config.rms_norm_eps = 1e-6;
    config.tie_word_embeddings = tie;
    if (sliding_window > 0) config.sliding_window = sliding_window;
    // Validate the combination the way a loaded config.json is validated.
    config = rlhf::ModelConfig::from_json_string(config.to_json(), "init-model options");
  }
  if (tokenizer_kind.empty())
    tokenizer_kind = config_file.empty() && (architecture == "llama3" || architecture == "qwen2")
                         ? "byte-level-bpe"
                         : "sentencepiece";
  if (tokenizer_kind != "sentencepiece" && tokenizer_kind != "byte-level-bpe")
    throw rlhf::host::UsageError(
        "init-model: --tokenizer must be sentencepiece or byte-level-bpe, not '" + tokenizer_kind +
        "'");
  const bool bpe = tokenizer_kind == "byte-level-bpe";
  if (chat_template == "family") {
    if (!bpe) chat_template = "none";
  } else if (bpe && chat_template != "none") {
    // The named templates write "<s>"/"</s>", which a byte-level BPE vocabulary does not have.
    throw rlhf::host::UsageError("init-model: --chat-template '" + chat_template +
                                 "' needs --tokenizer sentencepiece; a byte-level BPE folder "
                                 "takes family or none");
  } else {
    try {
      rlhf::ChatTemplate::get(chat_template);
    } catch (const rlhf::Error& e) {
      throw rlhf::host::UsageError(std::string("init-model: --chat-template: ") + e.what());
    }
  }
  if (dtype != "float32" && dtype != "bfloat16")
    throw rlhf::Error("init-model: --dtype must be float32 or bfloat16, not '" + dtype + "'");
  const auto scalar = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;

  rlhf::host::ModelOutput output("init-model", out, force);
  const fs::path& tmp = output.staging();
  std::int64_t params = 0;
  if (bpe) {
    const bool own = chat_template == "family";
    rlhf::train_byte_level_bpe_tokenizer(corpus, tmp, vocab,
                                         config.model_type == "qwen2" ? "qwen2" : "llama3",
                                         own ? family_chat_template(config.model_type) : "");
    if (own) chat_template = "auto";  // complete_saved_folder keeps the folder's own
  } else {
    rlhf::train_sentencepiece_tokenizer(corpus, tmp, vocab, kChatSymbols);
  }
  const auto tokenizer = rlhf::Tokenizer::load(tmp);
  config.vocab_size = tokenizer->vocab_size();
  // Qwen2 has no BOS token; its config.json names <|endoftext|>, the pad token, as bos.
  config.bos_token_id = tokenizer->bos_id() >= 0 ? tokenizer->bos_id() : tokenizer->pad_id();
  config.eos_token_ids = {tokenizer->eos_id()};
  config.pad_token_id.reset();
  config.torch_dtype = dtype;

  torch::manual_seed(seed);
  const rlhf::CausalLM model(config, scalar);
  for (const auto& p : model.parameters()) params += p.numel();
  model.save_pretrained(tmp);
  rlhf::complete_saved_folder(tmp, rlhf::SavedFolder::model, tmp, chat_template);
  output.commit();
  const fs::path& target = output.target();
  std::cout << "init-model: wrote " << target.string() << " (" << config.architecture << ", "
            << params << " parameters, " << tokenizer_kind << " vocab " << config.vocab_size << ", "
            << dtype << ")\n";
  return 0;
}

}  // namespace

RLHF_SUBCOMMAND("init-model",
                "write a random-initialised HF model directory with a trained tokenizer",
                run_init_model)
