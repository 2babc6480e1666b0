// The Tokenizer of a `tokenizer.json` byte-level BPE folder (Llama-3, Qwen2, GPT-2 style).
#pragma once

#include <filesystem>
#include <memory>

#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf::detail {

// Loads dir/tokenizer.json (+ tokenizer_config.json for bos/eos/pad and add_bos/eos_token).
// What it does not implement (another model type, normalizer, pre-tokenizer, decoder, split
// pattern) is an rlhf::Error naming the tokenizer.json field.
std::shared_ptr<Tokenizer> load_bpe_tokenizer(const std::filesystem::path& dir);

}  // namespace rlhf::detail
