// Internal: the C API of librlhf_sentencepiece (sdk/sentencepiece_shim/shim.cpp), loaded at run
// time. See the shim for why sentencepiece is never linked into librlhf_sdk.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace rlhf::detail {

struct SentencePieceApi {
  void (*free)(void*);
  void* (*load)(const char* path, char** error);
  void (*destroy)(void* handle);
  int (*encode)(void* handle, const char* text, size_t len, int** ids, size_t* count);
  char* (*decode)(void* handle, const int* ids, size_t count);
  int (*piece_to_id)(void* handle, const char* piece);
  char* (*id_to_piece)(void* handle, int id);
  int (*vocab_size)(void* handle);
  int (*id_kind)(void* handle, int id);
  int (*train)(const char* args, char** error);
};

// The shim's functions. Loaded once per process from $RLHF_SENTENCEPIECE_SHIM or, by default,
// librlhf_sentencepiece.so in the directory of librlhf_sdk.so; throws rlhf::Error naming the
// path when it cannot be loaded.
const SentencePieceApi& sentencepiece_api();

}  // namespace rlhf::detail
