// Reading the fields of a sentencepiece ModelProto that SentencePieceModelFile holds.
#include "sentencepiece_model_file.hpp"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string_view>

#include "rlhf/error.hpp"

namespace rlhf::detail {

namespace {

struct Malformed {
  const char* what;
};

// One protobuf message: its fields in order.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : rest_(bytes) {}

  bool done() const { return rest_.empty(); }

  // The next field's number and wire type.
  void next(std::uint32_t& field, int& wire_type) {
    const std::uint64_t key = varint();
    field = static_cast<std::uint32_t>(key >> 3);
    wire_type = static_cast<int>(key & 7);
    if (field == 0) throw Malformed{"field number 0"};
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) throw Malformed{"truncated varint"};
      const auto b = static_cast<unsigned char>(rest_.front());
      rest_.remove_prefix(1);
      v |= std::uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw Malformed{"varint longer than 10 bytes"};
  }

  std::string_view bytes() {
    const std::uint64_t n = varint();
    if (n > rest_.size()) throw Malformed{"length past the end"};
    const std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }

  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        return;
      case 1:
        advance(8);
        return;
      case 2:
        bytes();
        return;
      case 5:
        advance(4);
        return;
      default:
        throw Malformed{"unsupported wire type (group)"};
    }
  }

 private:
  void advance(std::size_t n) {
    if (n > rest_.size()) throw Malformed{"fixed-size field past the end"};
    rest_.remove_prefix(n);
  }

  std::string_view rest_;
};

void read_piece(std::string_view bytes, SentencePieceModelFile::Piece& piece) {
  WireReader r(bytes);
  while (!r.done()) {
    std::uint32_t field;
    int wire;
    r.next(field, wire);
    if (field == 1 && wire == 2)
      piece.piece = std::string(r.bytes());
    else if (field == 3 && wire == 0)
      piece.type = static_cast<int>(r.varint());
    else
      r.skip(wire);
  }
}

void read_trainer_spec(std::string_view bytes, SentencePieceModelFile& m) {
  WireReader r(bytes);
  while (!r.done()) {
    std::uint32_t field;
    int wire;
    r.next(field, wire);
    if (field == 3 && wire == 0)
      m.model_type = static_cast<int>(r.varint());
    else if (field == 24 && wire == 0)
      m.treat_whitespace_as_suffix = r.varint() != 0;
    else if (field == 35 && wire == 0)
      m.byte_fallback = r.varint() != 0;
    else
      r.skip(wire);
  }
}

void read_normalizer_spec(std::string_view bytes, SentencePieceModelFile& m) {
  WireReader r(bytes);
  while (!r.done()) {
    std::uint32_t field;
    int wire;
    r.next(field, wire);
    if (field == 2 && wire == 2)
      m.has_charsmap = !r.bytes().empty();
    else if (field == 3 && wire == 0)
      m.add_dummy_prefix = r.varint() != 0;
    else if (field == 4 && wire == 0)
      m.remove_extra_whitespaces = r.varint() != 0;
    else if (field == 5 && wire == 0)
      m.escape_whitespaces = r.varint() != 0;
    else
      r.skip(wire);
  }
}

}  // namespace

SentencePieceModelFile read_sentencepiece_model_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  SentencePieceModelFile m;
  try {
    WireReader r(data);
    while (!r.done()) {
      std::uint32_t field;
      int wire;
      r.next(field, wire);
      if (field == 1 && wire == 2)
        read_piece(r.bytes(), m.pieces.emplace_back());
      else if (field == 2 && wire == 2)
        read_trainer_spec(r.bytes(), m);
      else if (field == 3 && wire == 2)
        read_normalizer_spec(r.bytes(), m);
      else
        r.skip(wire);
    }
  } catch (const Malformed& e) {
    throw Error(path.string() + ": not a sentencepiece model (" + e.what + ")");
  }
  return m;
}

}  // namespace rlhf::detail
