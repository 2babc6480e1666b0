// Reads TensorBoard event files back with a decoder written independently of
// sdk/src/tensorboard.cpp: TFRecord framing (u64 length, masked CRC-32C of length and payload,
// computed bitwise here) and the Event / Summary protobuf fields scalars use
// (tensorflow/core/util/event.proto, summary.proto).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace rlhf::test {

// Bitwise CRC-32C (Castagnoli, reflected 0x82F63B78).
inline std::uint32_t reference_crc32c(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}
inline std::uint32_t reference_masked(const std::string& bytes) {
  std::uint32_t crc = reference_crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

template <class T>
T read_le(const std::string& s, std::size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

struct ProtoField {
  int number;
  int wire_type;
  std::uint64_t varint = 0;
  std::string bytes;  // length-delimited payload or the fixed32/fixed64 raw bytes
};

inline std::uint64_t read_varint(const std::string& s, std::size_t& at) {
  std::uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char b = static_cast<unsigned char>(s.at(at++));
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
}

inline std::vector<ProtoField> parse_message(const std::string& s) {
  std::vector<ProtoField> fields;
  std::size_t at = 0;
  while (at < s.size()) {
    std::uint64_t key = read_varint(s, at);
    ProtoField f;
    f.number = static_cast<int>(key >> 3);
    f.wire_type = static_cast<int>(key & 7);
    switch (f.wire_type) {
      case 0:
        f.varint = read_varint(s, at);
        break;
      case 1:
        f.bytes = s.substr(at, 8), at += 8;
        break;
      case 5:
        f.bytes = s.substr(at, 4), at += 4;
        break;
      case 2: {
        auto n = read_varint(s, at);
        f.bytes = s.substr(at, n), at += n;
        break;
      }
      default:
        ADD_FAILURE() << "unexpected wire type " << f.wire_type;
        return fields;
    }
    fields.push_back(f);
  }
  return fields;
}

inline const ProtoField* find_field(const std::vector<ProtoField>& fields, int number) {
  for (const auto& f : fields)
    if (f.number == number) return &f;
  return nullptr;
}

// The records of an event file, each checked against its two masked CRCs.
inline std::vector<std::string> read_records(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  std::vector<std::string> records;
  for (std::size_t at = 0; at < bytes.size();) {
    if (at + 12 > bytes.size()) {
      ADD_FAILURE() << file << ": truncated record header at " << at;
      break;
    }
    const auto length = read_le<std::uint64_t>(bytes, at);
    EXPECT_EQ(read_le<std::uint32_t>(bytes, at + 8), reference_masked(bytes.substr(at, 8)));
    if (at + 12 + length + 4 > bytes.size()) {
      ADD_FAILURE() << file << ": truncated record at " << at;
      break;
    }
    const std::string data = bytes.substr(at + 12, length);
    EXPECT_EQ(read_le<std::uint32_t>(bytes, at + 12 + length), reference_masked(data));
    records.push_back(data);
    at += 12 + length + 4;
  }
  return records;
}

struct ScalarEvent {
  std::string tag;
  float value;
  std::int64_t step;
};

// Every scalar of an event file in order (the file_version record is checked, then skipped).
inline std::vector<ScalarEvent> read_scalars(const std::filesystem::path& file) {
  std::vector<ScalarEvent> out;
  const auto records = read_records(file);
  if (records.empty()) {
    ADD_FAILURE() << file << ": no records";
    return out;
  }
  const auto first = parse_message(records[0]);
  const ProtoField* version = find_field(first, 3);
  EXPECT_TRUE(version && version->bytes == "brain.Event:2") << file;
  for (std::size_t i = 1; i < records.size(); ++i) {
    const auto event = parse_message(records[i]);
    const ProtoField* step = find_field(event, 2);
    const ProtoField* summary = find_field(event, 5);
    if (!step || !summary) {
      ADD_FAILURE() << file << ": record " << i << " is not a scalar event";
      continue;
    }
    for (const auto& value_field : parse_message(summary->bytes)) {
      const auto value = parse_message(value_field.bytes);
      const ProtoField* tag = find_field(value, 1);
      const ProtoField* simple = find_field(value, 2);
      if (!tag || !simple || simple->wire_type != 5) {
        ADD_FAILURE() << file << ": record " << i << " has no tag / simple_value";
        continue;
      }
      out.push_back(
          {tag->bytes, read_le<float>(simple->bytes, 0), static_cast<std::int64_t>(step->varint)});
    }
  }
  return out;
}

// The event files under `dir`, recursively, sorted.
inline std::vector<std::filesystem::path> event_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace rlhf::test
