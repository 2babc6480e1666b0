// TensorBoard event files with a hand-written protobuf encoder: only the handful of Event and
// Summary fields scalars need (field numbers from tensorflow/core/util/event.proto and
// summary.proto).
#include "rlhf/tensorboard.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

namespace rlhf {
namespace {

std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    table[i] = crc;
  }
  return table;
}

// Protobuf wire format: varint keys (field << 3 | wire type) and values.
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type));
}
template <class T>
void put_fixed(std::string& out, T value) {  // little-endian hosts only (x86-64, aarch64)
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

double now_seconds() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

// Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3;
//         Summary summary = 5; } }
std::string event(std::int64_t step, const std::string& oneof_field_bytes, int oneof_field) {
  std::string out;
  put_key(out, 1, 1);
  put_fixed<double>(out, now_seconds());
  put_key(out, 2, 0);
  put_varint(out, static_cast<std::uint64_t>(step));
  put_bytes(out, oneof_field, oneof_field_bytes);
  return out;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size) {
  static const auto table = make_crc32c_table();
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t masked_crc32c(const void* data, std::size_t size) {
  const std::uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  const auto seconds = static_cast<std::int64_t>(now_seconds());
  // The pid keeps two processes starting in the same second apart (torch's SummaryWriter names
  // its files the same way).
  path_ = dir / ("events.out.tfevents." + std::to_string(seconds) + "." + host + "." +
                 std::to_string(::getpid()));
  out_ = std::make_unique<FileWriter>(path_, FileWriter::Mode::append);
  write_record(event(0, "brain.Event:2", 3));
}

TensorBoardWriter::~TensorBoardWriter() = default;

void TensorBoardWriter::add_scalar(const std::string& tag, double value, std::int64_t step) {
  // Summary.Value { string tag = 1; float simple_value = 2; }; Summary { repeated Value value = 1;
  // }
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_key(summary_value, 2, 5);
  put_fixed<float>(summary_value, static_cast<float>(value));
  std::string summary;
  put_bytes(summary, 1, summary_value);
  write_record(event(step, summary, 5));
}

// Every record goes to the file as it is written (one write() each): nothing is buffered here.
void TensorBoardWriter::flush() {}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string header;
  put_fixed<std::uint64_t>(header, data.size());
  put_fixed<std::uint32_t>(header, masked_crc32c(header.data(), header.size()));
  std::string footer;
  put_fixed<std::uint32_t>(footer, masked_crc32c(data.data(), data.size()));
  out_->write(header + data + footer);
}

}  // namespace rlhf
