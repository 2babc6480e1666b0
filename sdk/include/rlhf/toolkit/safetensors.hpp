// safetensors — reader and writer for the Hugging Face tensor file format
// (docs/formats.md, "safetensors").
//
// File = u64 little-endian header length N, N bytes of JSON, then the byte buffer. The reader
// memory-maps the file and validates the whole header before any tensor is read: JSON parses,
// every dtype is known, shapes are non-negative, offsets lie inside the buffer, each byte size
// equals dtype size × numel, and the tensors tile the buffer with no overlap and no gap (as the
// reference Rust implementation requires). Every violation is an rlhf::Error naming the file and
// the tensor; a corrupt file never causes an out-of-bounds read.
//
// Tensors are read lazily by name: load() copies one tensor out of the mapping, so a loader
// holding the model plus the mapping (page cache, not process memory) never holds two copies.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/quantizer.hpp"  // TensorSource

namespace rlhf {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;              // "F32", "BF16", … as written in the file
  torch::ScalarType scalar_type;  // the matching torch dtype
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // byte offsets relative to the start of the buffer
};

// The torch dtype of a safetensors dtype string (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL);
// throws rlhf::Error for anything else.
torch::ScalarType safetensors_scalar_type(const std::string& dtype);
// The safetensors dtype string of a torch dtype; throws for dtypes safetensors cannot hold.
std::string safetensors_dtype_name(torch::ScalarType type);

// One memory-mapped, validated .safetensors file.
class SafetensorsFile : public TensorSource {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile() override;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Tensor names in buffer order.
  std::vector<std::string> names() const;
  const SafetensorsEntry& entry(const std::string& name) const;  // throws when absent
  bool contains(const std::string& name) const override;
  // A new CPU tensor (owning its memory) with the stored dtype and shape. A floating-point
  // tensor holding NaN or Inf is refused (rlhf::Error naming the file and the tensor).
  torch::Tensor load(const std::string& name) const override;
  // `__metadata__` (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::uint64_t buffer_offset_ = 0;  // 8 + N
  std::map<std::string, SafetensorsEntry> entries_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory (or one file): `model.safetensors`, or the shards listed
// by `model.safetensors.index.json`. Each shard is opened (and validated) once.
class SafetensorsCheckpoint : public TensorSource {
 public:
  // `path`: a directory holding model.safetensors or model.safetensors.index.json, an index
  // file, or a single .safetensors file.
  explicit SafetensorsCheckpoint(const std::filesystem::path& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const override;
  torch::Tensor load(const std::string& name) const override;
  const SafetensorsEntry& entry(const std::string& name) const;
  // The file holding `name` (for messages).
  const std::filesystem::path& file_of(const std::string& name) const;

 private:
  const SafetensorsFile& file_for(const std::string& name) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::size_t> where_;  // tensor name → index into files_
  std::filesystem::path origin_;
};

// Writes `tensors` (any device/layout; copied to contiguous CPU) as one .safetensors file with
// `metadata` as `__metadata__`. Written to a temporary name, then renamed.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes a checkpoint into `dir` the way transformers does: `model.safetensors` when the total
// fits in `max_shard_bytes`, else `model-0000i-of-0000n.safetensors` shards (tensors in the
// given order, a new shard when the next tensor would overflow) plus
// `model.safetensors.index.json`. Stale shards/index of a previous save in `dir` are removed.
// `stem` names the files ("model" → model.safetensors; "adapter_model" works too).
void save_safetensors_checkpoint(const std::filesystem::path& dir,
                                 const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                 std::int64_t max_shard_bytes = std::int64_t{5} << 30,
                                 const std::string& stem = "model");

}  // namespace rlhf
