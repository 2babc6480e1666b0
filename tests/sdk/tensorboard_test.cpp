// Reads a TensorBoard event file back with an independent decoder: record framing, masked
// CRC-32C of length and payload, and the Event/Summary protobuf fields.
#include "rlhf/tensorboard.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

// Bitwise CRC-32C, written independently of the table-driven one under test.
std::uint32_t reference_crc32c(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}
std::uint32_t reference_masked(const std::string& bytes) {
  std::uint32_t crc = reference_crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

template <class T>
T read_le(const std::string& s, std::size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

struct Field {
  int number;
  int wire_type;
  std::uint64_t varint = 0;
  std::string bytes;  // length-delimited payload or the fixed32/fixed64 raw bytes
};

std::uint64_t read_varint(const std::string& s, std::size_t& at) {
  std::uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char b = static_cast<unsigned char>(s.at(at++));
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
}

std::vector<Field> parse_message(const std::string& s) {
  std::vector<Field> fields;
  std::size_t at = 0;
  while (at < s.size()) {
    std::uint64_t key = read_varint(s, at);
    Field f;
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

const Field* field(const std::vector<Field>& fields, int number) {
  for (const auto& f : fields)
    if (f.number == number) return &f;
  return nullptr;
}

}  // namespace

TEST(Crc32c, MatchesTheStandardCheckValueAndAReferenceImplementation) {
  // CRC-32C check value from the iSCSI spec (RFC 3720 appendix B.4): "123456789".
  EXPECT_EQ(rlhf::crc32c("123456789", 9), 0xE3069283u);
  const std::string text = "brain.Event:2 and some more bytes \x01\x02\xff";
  EXPECT_EQ(rlhf::crc32c(text.data(), text.size()), reference_crc32c(text));
  EXPECT_EQ(rlhf::masked_crc32c(text.data(), text.size()), reference_masked(text));
}

TEST(TensorBoardWriter, WritesRecordsTensorBoardCanRead) {
  const fs::path dir = rlhf::test::process_temp_path("tensorboard");
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::path file;
  {
    rlhf::TensorBoardWriter writer(dir);
    file = writer.path();
    writer.add_scalar("dpo/loss", 0.6931, 1);
    writer.add_scalar("dpo/rewards/accuracies", 0.75, 1234567890123);
    writer.flush();
  }
  EXPECT_EQ(file.parent_path(), dir);
  EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u);

  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();

  std::vector<std::string> records;
  for (std::size_t at = 0; at < bytes.size();) {
    ASSERT_LE(at + 12, bytes.size());
    const auto length = read_le<std::uint64_t>(bytes, at);
    EXPECT_EQ(read_le<std::uint32_t>(bytes, at + 8), reference_masked(bytes.substr(at, 8)));
    ASSERT_LE(at + 12 + length + 4, bytes.size());
    const std::string data = bytes.substr(at + 12, length);
    EXPECT_EQ(read_le<std::uint32_t>(bytes, at + 12 + length), reference_masked(data));
    records.push_back(data);
    at += 12 + length + 4;
  }
  ASSERT_EQ(records.size(), 3u);

  auto first = parse_message(records[0]);
  ASSERT_NE(field(first, 3), nullptr);
  EXPECT_EQ(field(first, 3)->bytes, "brain.Event:2");
  ASSERT_NE(field(first, 1), nullptr);
  const double wall_time = read_le<double>(field(first, 1)->bytes, 0);
  EXPECT_GT(wall_time, 1.7e9);  // after 2023: a Unix time in seconds

  struct Expected {
    std::string tag;
    float value;
    std::int64_t step;
  };
  const Expected expected[] = {{"dpo/loss", 0.6931f, 1},
                               {"dpo/rewards/accuracies", 0.75f, 1234567890123}};
  for (int i = 0; i < 2; ++i) {
    auto event = parse_message(records[i + 1]);
    ASSERT_NE(field(event, 2), nullptr);
    EXPECT_EQ(static_cast<std::int64_t>(field(event, 2)->varint), expected[i].step);
    ASSERT_NE(field(event, 5), nullptr);
    auto summary = parse_message(field(event, 5)->bytes);
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0].number, 1);
    auto value = parse_message(summary[0].bytes);
    ASSERT_NE(field(value, 1), nullptr);
    EXPECT_EQ(field(value, 1)->bytes, expected[i].tag);
    ASSERT_NE(field(value, 2), nullptr);
    EXPECT_EQ(field(value, 2)->wire_type, 5);
    EXPECT_EQ(read_le<float>(field(value, 2)->bytes, 0), expected[i].value);
  }
  fs::remove_all(dir);
}
