// The sentencepiece Tokenizer's word cache, seen from outside: for tests that compare it with
// sentencepiece's own encoding and for bench/data_bench.cpp, which times both.
//
// Tokenizer::load encodes word by word through a cache when the model allows it exactly
// (sdk/src/wordwise_encoder.hpp says when), and with plain sentencepiece otherwise; the ids are
// the same either way.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "rlhf/toolkit/tokenizer.hpp"

namespace rlhf::detail {

// Tokenizer::load(dir), with the word cache allowed (`word_cache`) or never used.
std::shared_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir, bool word_cache);

// Why `tokenizer_model` (a tokenizer.model file) is encoded without the word cache, or "" when
// the cache is used. Throws rlhf::Error when the file is not a sentencepiece model.
std::string word_cache_refusal(const std::filesystem::path& tokenizer_model);

// Trains a sentencepiece model from a sentencepiece_trainer argument string ("--input=…
// --model_prefix=… --model_type=bpe …"); throws rlhf::Error with sentencepiece's message.
void train_sentencepiece_model(const std::string& trainer_args);

}  // namespace rlhf::detail
