// Internal: the settings of a sentencepiece `tokenizer.model` that decide how it encodes, read
// from the file itself (a serialized sentencepiece.ModelProto, protobuf wire format).
//
// The shim's C API does not expose the ModelProto, and Debian ships no sentencepiece_model.pb.h;
// the few fields needed here are read from the wire format directly (field numbers from
// sentencepiece_model.proto). Repeated occurrences of a field merge as protobuf merges them: a
// later scalar wins, sub-messages merge.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rlhf::detail {

struct SentencePieceModelFile {
  // ModelProto.SentencePiece.Type
  enum PieceType {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6
  };
  struct Piece {
    std::string piece;
    int type = kNormal;
  };
  std::vector<Piece> pieces;  // in id order

  // TrainerSpec
  int model_type = 1;  // 1 unigram (the proto default), 2 BPE, 3 word, 4 char
  bool treat_whitespace_as_suffix = false;
  bool byte_fallback = false;

  // NormalizerSpec (defaults as in the proto)
  bool has_charsmap = false;  // a non-empty precompiled_charsmap: text is normalised (NFKC, …)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Reads `path`; throws rlhf::Error naming the file when it is not a readable ModelProto.
SentencePieceModelFile read_sentencepiece_model_file(const std::filesystem::path& path);

}  // namespace rlhf::detail
