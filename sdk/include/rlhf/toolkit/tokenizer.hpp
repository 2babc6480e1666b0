// Tokenizer — sentencepiece `tokenizer.model` with Hugging Face LlamaTokenizer behaviour, else
// the byte-level BPE of `tokenizer.json` (Llama-3, Qwen2: docs/formats.md, "tokenizer.json
// (byte-level BPE)"); BOS/EOS from tokenizer_config.json / special_tokens_map.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace rlhf {

class Tokenizer {
 public:
  // Loads `dir/tokenizer.model`, else `dir/tokenizer.json` (+ the JSON files above).
  static std::shared_ptr<Tokenizer> load(const std::filesystem::path& dir);
  virtual ~Tokenizer();

  // Encodes text; special-token strings inside it ("<s>", "</s>", added tokens) map to their
  // ids. add_bos/add_eos override the tokenizer's own add_bos_token/add_eos_token.
  virtual std::vector<std::int64_t> encode(const std::string& text, bool add_bos,
                                           bool add_eos) const = 0;
  // Encodes with the tokenizer's configured add_bos_token / add_eos_token.
  std::vector<std::int64_t> encode(const std::string& text) const {
    return encode(text, add_bos_token(), add_eos_token());
  }
  virtual std::string decode(const std::vector<std::int64_t>& ids,
                             bool skip_special_tokens = true) const = 0;

  virtual std::int64_t vocab_size() const = 0;
  virtual std::int64_t bos_id() const = 0;  // -1: none (a tokenizer.json with bos_token null)
  virtual std::int64_t eos_id() const = 0;
  // pad token; when the tokenizer has none, eos (then unk) is used — see the load log line.
  virtual std::int64_t pad_id() const = 0;
  virtual bool add_bos_token() const = 0;
  virtual bool add_eos_token() const = 0;
  // Id of a token string (special or piece); -1 if unknown.
  virtual std::int64_t token_to_id(const std::string& token) const = 0;
};

// Trains a sentencepiece model on `corpus` (one sentence per line) and writes a tokenizer
// directory `out_dir` (tokenizer.model, tokenizer_config.json, special_tokens_map.json):
// <unk>=0, <s>=1, </s>=2 as Llama. `user_defined_symbols` become single tokens (e.g. "<|user|>").
void train_sentencepiece_tokenizer(const std::filesystem::path& corpus,
                                   const std::filesystem::path& out_dir, int vocab_size,
                                   const std::vector<std::string>& user_defined_symbols = {});

// Trains a byte-level BPE tokenizer (GPT-2's byte symbols, the most frequent pair merged first)
// on `corpus` and writes `out_dir` (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json) laid out as `family`'s published tokenizer: "llama3" (Llama-3's split
// pattern, ignore_merges, BOS <|begin_of_text|> added, EOS <|eot_id|>) or "qwen2" (NFC, digits one
// by one, no BOS, EOS <|im_end|>, pad <|endoftext|>). `vocab_size` counts the 256 byte tokens, the
// merges and the family's special tokens; training stops early when no pair occurs twice. A
// non-empty `chat_template` (Jinja) goes into tokenizer_config.json.
void train_byte_level_bpe_tokenizer(const std::filesystem::path& corpus,
                                    const std::filesystem::path& out_dir, int vocab_size,
                                    const std::string& family,
                                    const std::string& chat_template = "");

}  // namespace rlhf
