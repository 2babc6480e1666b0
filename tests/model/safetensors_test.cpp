// safetensors: round trip of every dtype, byte layout vs the format, sharded checkpoints, and
// each corrupt-file case with its message.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using rlhf::test::TempDir;

namespace {

// Writes a raw safetensors file: u64 LE header length, header, buffer.
void write_raw(const fs::path& path, const std::string& header, const std::string& buffer) {
  std::ofstream out(path, std::ios::binary);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << buffer;
}

// Expects constructing a reader on `path` to throw an rlhf::Error containing every fragment.
void expect_error(const fs::path& path, const std::vector<std::string>& fragments) {
  try {
    rlhf::SafetensorsFile f(path);
    FAIL() << "no error for " << path;
  } catch (const rlhf::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  TempDir dir;
  torch::manual_seed(1);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"f64", torch::randn({2, 3}, torch::kFloat64)},
      {"f32", torch::randn({4}, torch::kFloat32)},
      {"f16", torch::randn({3, 1}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
      {"i64", torch::arange(-3, 3, torch::kInt64)},
      {"i32", torch::arange(0, 5, torch::kInt32)},
      {"i16", torch::arange(-2, 2, torch::kInt16)},
      {"i8", torch::arange(-4, 4, torch::kInt8)},
      {"u8", torch::arange(250, 256, torch::kInt32).to(torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"empty", torch::zeros({0, 4})},
      {"scalar", torch::tensor(3.5)},
  };
  const fs::path file = dir.path() / "t.safetensors";
  rlhf::save_safetensors(file, tensors, {{"format", "pt"}, {"note", "hello"}});
  rlhf::SafetensorsFile f(file);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "hello");
  EXPECT_EQ(f.names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const torch::Tensor back = f.load(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  EXPECT_EQ(f.entry("bf16").dtype, "BF16");
  EXPECT_EQ(f.entry("u8").dtype, "U8");
  EXPECT_FALSE(f.contains("missing"));
  EXPECT_THROW(f.load("missing"), rlhf::Error);
}

TEST(Safetensors, WriterLayoutFollowsTheFormat) {
  TempDir dir;
  const fs::path file = dir.path() / "t.safetensors";
  rlhf::save_safetensors(
      file, {{"a", torch::tensor({1.0f, 2.0f})}, {"b", torch::tensor({7}, torch::kInt16)}});
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  EXPECT_EQ((8 + n) % 8, 0u) << "buffer should start 8-byte aligned";
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["a"]["dtype"], "F32");
  EXPECT_EQ(header["a"]["shape"], nlohmann::json::array({2}));
  const auto a_off = header["a"]["data_offsets"];
  const auto b_off = header["b"]["data_offsets"];
  EXPECT_EQ(a_off[1].get<int>() - a_off[0].get<int>(), 8);
  EXPECT_EQ(b_off[1].get<int>() - b_off[0].get<int>(), 2);
  EXPECT_EQ(bytes.size(), 8 + n + 10);
  float first = 0;
  std::memcpy(&first, bytes.data() + 8 + n + a_off[0].get<int>(), 4);
  EXPECT_EQ(first, 1.0f);
  std::int16_t b = 0;
  std::memcpy(&b, bytes.data() + 8 + n + b_off[0].get<int>(), 2);
  EXPECT_EQ(b, 7);
}

TEST(Safetensors, ShardedCheckpointLoadsThroughTheIndex) {
  TempDir dir;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (int i = 0; i < 5; ++i)
    tensors.emplace_back("w" + std::to_string(i), torch::full({16}, static_cast<float>(i)));
  // 64 bytes per tensor, 150 per shard → 3 shards of 2, 2, 1.
  rlhf::save_safetensors_checkpoint(dir.path(), tensors, 150);
  EXPECT_TRUE(fs::exists(dir.path() / "model-00001-of-00003.safetensors"));
  EXPECT_TRUE(fs::exists(dir.path() / "model-00003-of-00003.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path() / "model.safetensors"));
  std::ifstream idx(dir.path() / "model.safetensors.index.json");
  const auto index = nlohmann::json::parse(idx);
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 64);
  EXPECT_EQ(index["weight_map"]["w4"], "model-00003-of-00003.safetensors");

  rlhf::SafetensorsCheckpoint ckpt(dir.path());
  EXPECT_EQ(ckpt.names().size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(
        torch::equal(ckpt.load("w" + std::to_string(i)), torch::full({16}, static_cast<float>(i))));
  EXPECT_EQ(ckpt.file_of("w0").filename(), "model-00001-of-00003.safetensors");

  // Re-saving unsharded removes the shards and the index.
  rlhf::save_safetensors_checkpoint(dir.path(), tensors);
  EXPECT_TRUE(fs::exists(dir.path() / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path() / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir.path() / "model-00001-of-00003.safetensors"));
  EXPECT_TRUE(
      torch::equal(rlhf::SafetensorsCheckpoint(dir.path()).load("w3"), torch::full({16}, 3.0f)));
}

TEST(Safetensors, IndexPointingAtAMissingShardNamesIt) {
  TempDir dir;
  std::ofstream(dir.path() / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"w": "model-00001-of-00002.safetensors"}})";
  try {
    rlhf::SafetensorsCheckpoint c(dir.path());
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model-00001-of-00002.safetensors"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos);
  }
}

TEST(SafetensorsCorrupt, FileShorterThanTheLengthField) {
  TempDir dir;
  const auto p = dir.path() / "short.safetensors";
  std::ofstream(p, std::ios::binary) << "abc";
  expect_error(p, {"truncated"});
}

TEST(SafetensorsCorrupt, TruncatedHeader) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", "");
  // Cut the file in the middle of the header.
  fs::resize_file(p, 20);
  expect_error(p, {"truncated or corrupt safetensors header"});
}

TEST(SafetensorsCorrupt, OffsetsOutOfBounds) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
            std::string(8, '\0'));
  expect_error(p, {"tensor 'a'", "out of bounds"});
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p,
            R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
            std::string(12, '\0'));
  expect_error(p, {"tensor 'b'", "overlap tensor 'a'"});
}

TEST(SafetensorsCorrupt, ByteSizeDoesNotMatchDtypeTimesShape) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p, R"({"a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 8]}})",
            std::string(8, '\0'));
  expect_error(p, {"tensor 'a'", "does not match dtype BF16"});
}

TEST(SafetensorsCorrupt, BadJson) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [1], )", std::string(4, '\0'));
  expect_error(p, {"not valid JSON"});
}

TEST(SafetensorsCorrupt, UnknownDtype) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p, R"({"a": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})",
            std::string(4, '\0'));
  expect_error(p, {"tensor 'a'", "unknown safetensors dtype 'F8_E4M3'"});
}

TEST(SafetensorsCorrupt, GapInTheBuffer) {
  TempDir dir;
  const auto p = dir.path() / "t.safetensors";
  write_raw(p, R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}})",
            std::string(4, '\0'));
  expect_error(p, {"tensor 'a'", "gap"});
}
