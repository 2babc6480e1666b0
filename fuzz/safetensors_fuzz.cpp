// Fuzzes the safetensors reader (sdk/src/safetensors.cpp).
//
// Input: a .safetensors file as it is on disk (u64 header length, JSON header, buffer). An input
// that starts with '{' is a model.safetensors.index.json instead, read from a folder that also
// holds two valid shards (tensors a, b and c).
// Oracle, besides ASan/UBSan and "only rlhf::Error": every tensor of a file the reader accepts
// lies inside the buffer, has the byte size of its dtype x shape, and load() returns exactly
// its bytes.
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "fuzz_util.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace fs = std::filesystem;
using rlhf::fuzz::check;

namespace {

fs::path shard_dir;

void remove_shard_dir() {
  std::error_code ec;
  fs::remove_all(shard_dir, ec);
}

void make_shard_dir() {
  std::string dir = (fs::temp_directory_path() / "rlhf-fuzz-shards-XXXXXX").string();
  if (!::mkdtemp(dir.data())) rlhf::fuzz::finding("mkdtemp failed");
  shard_dir = dir;
  std::atexit(remove_shard_dir);
  rlhf::save_safetensors(shard_dir / "model-00001-of-00002.safetensors",
                         {{"a", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                          {"b", torch::ones({4}, torch::kBFloat16)}});
  rlhf::save_safetensors(shard_dir / "model-00002-of-00002.safetensors",
                         {{"c", torch::zeros({2, 2}, torch::kInt64)}});
}

void fuzz_file(const std::uint8_t* data, std::size_t size) {
  static rlhf::fuzz::MemFile file("model.safetensors");
  file.write(data, size);
  rlhf::fuzz::only_rlhf_errors([&] {
    const rlhf::SafetensorsFile st(file.path());
    // The reader accepted it, so the file has a complete 8-byte length and header.
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
    check(size >= 8 && n <= size - 8, "accepted a file shorter than its header");
    const std::uint64_t buffer = size - 8 - n;
    for (const auto& name : st.names()) {
      const rlhf::SafetensorsEntry& e = st.entry(name);
      check(e.begin <= e.end && e.end <= buffer, "tensor '" + name + "' outside the buffer");
      const torch::Tensor t = st.load(name);
      check(t.sizes().vec() == e.shape && t.scalar_type() == e.scalar_type,
            "tensor '" + name + "' loaded with another shape or dtype");
      check(t.nbytes() == e.end - e.begin, "tensor '" + name + "' byte size != data_offsets");
      check(t.nbytes() == 0 || std::memcmp(t.data_ptr(), data + 8 + n + e.begin, t.nbytes()) == 0,
            "tensor '" + name + "' loaded other bytes than the file holds");
    }
  });
}

void fuzz_index(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(shard_dir / "model.safetensors.index.json", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  rlhf::fuzz::only_rlhf_errors([&] {
    const rlhf::SafetensorsCheckpoint checkpoint(shard_dir);
    for (const auto& name : checkpoint.names()) {
      const rlhf::SafetensorsEntry& e = checkpoint.entry(name);
      (void)checkpoint.file_of(name);
      const torch::Tensor t = checkpoint.load(name);
      check(t.nbytes() == e.end - e.begin, "tensor '" + name + "' byte size != data_offsets");
    }
  });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  make_shard_dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 0 && data[0] == '{')
    fuzz_index(data, size);
  else
    fuzz_file(data, size);
  return 0;
}
