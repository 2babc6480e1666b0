#include "rlhf/toolkit/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "rlhf/error.hpp"
#include "rlhf/finite.hpp"
#include "rlhf/toolkit/file_writer.hpp"

namespace rlhf {

namespace fs = std::filesystem;
using nlohmann::json;

// Out-of-line so TensorSource's vtable and type_info live in librlhf_sdk.
TensorSource::~TensorSource() = default;

namespace {

// The header may hold a few hundred thousand tensors (sharded 70B models), never gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{100} << 20;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64},   {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
    {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};

std::string where(const fs::path& file, const std::string& tensor) {
  return file.string() + ": tensor '" + tensor + "': ";
}

// numel × itemsize with overflow detection (a corrupt shape must not wrap around).
bool byte_size(const std::vector<std::int64_t>& shape, std::uint64_t itemsize, std::uint64_t& out) {
  std::uint64_t n = itemsize;
  for (auto d : shape) {
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud) return false;
    n *= ud;
  }
  out = n;
  return true;
}

void write_safetensors_file(const fs::path& path, const std::string& header,
                            const std::vector<torch::Tensor>& payload) {
  write_file_atomically(path, [&](FileWriter& out) {
    std::uint64_t n = header.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(len, 8);
    out.write(header);
    for (const auto& t : payload)
      out.write(t.data_ptr(), static_cast<std::size_t>(t.numel()) * t.element_size());
  });
}

}  // namespace

torch::ScalarType safetensors_scalar_type(const std::string& dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return d.type;
  throw Error("unknown safetensors dtype '" + dtype +
              "' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

std::string safetensors_dtype_name(torch::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return d.name;
  throw Error(std::string("safetensors cannot store dtype ") + c10::toString(type));
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  const std::string file = path.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(file + ": cannot open safetensors file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(file + ": cannot stat: " + std::strerror(errno));
  }
  map_size_ = static_cast<std::size_t>(st.st_size);
  if (map_size_ < 8) {
    ::close(fd);
    throw Error(file + ": truncated safetensors file (" + std::to_string(map_size_) +
                " bytes, less than the 8-byte header length)");
  }
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error(file + ": mmap failed: " + std::strerror(errno));
  }
  try {
    const auto* bytes = static_cast<const unsigned char*>(map_);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    if (n > kMaxHeaderBytes || n > map_size_ - 8)
      throw Error(file + ": truncated or corrupt safetensors header (header length " +
                  std::to_string(n) + " but file has " + std::to_string(map_size_ - 8) +
                  " bytes after it)");
    buffer_offset_ = 8 + n;
    const std::uint64_t buffer_size = map_size_ - buffer_offset_;

    json header;
    try {
      header = json::parse(reinterpret_cast<const char*>(bytes + 8),
                           reinterpret_cast<const char*>(bytes + 8 + n));
    } catch (const json::exception& e) {
      throw Error(file + ": safetensors header is not valid JSON: " + e.what());
    }
    if (!header.is_object()) throw Error(file + ": safetensors header is not a JSON object");

    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) throw Error(file + ": __metadata__ is not a JSON object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string())
            throw Error(file + ": __metadata__ '" + m.key() + "' is not a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
          !v.contains("data_offsets"))
        throw Error(where(path, name) + "entry needs dtype, shape and data_offsets");
      SafetensorsEntry e;
      e.name = name;
      if (!v["dtype"].is_string()) throw Error(where(path, name) + "dtype is not a string");
      e.dtype = v["dtype"].get<std::string>();
      try {
        e.scalar_type = safetensors_scalar_type(e.dtype);
      } catch (const Error& err) {
        throw Error(where(path, name) + err.what());
      }
      if (!v["shape"].is_array()) throw Error(where(path, name) + "shape is not an array");
      for (const auto& d : v["shape"]) {
        if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
          throw Error(where(path, name) + "shape has a negative or non-integer dimension");
        e.shape.push_back(d.get<std::int64_t>());
      }
      const json& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
          !off[1].is_number_unsigned())
        throw Error(where(path, name) + "data_offsets must be two non-negative integers");
      e.begin = off[0].get<std::uint64_t>();
      e.end = off[1].get<std::uint64_t>();
      if (e.begin > e.end)
        throw Error(where(path, name) + "data_offsets [" + std::to_string(e.begin) + ", " +
                    std::to_string(e.end) + "] end before begin");
      if (e.end > buffer_size)
        throw Error(where(path, name) + "data_offsets [" + std::to_string(e.begin) + ", " +
                    std::to_string(e.end) + "] out of bounds: the buffer has " +
                    std::to_string(buffer_size) + " bytes (file truncated?)");
      std::uint64_t expected = 0;
      const auto itemsize = static_cast<std::uint64_t>(c10::elementSize(e.scalar_type));
      if (!byte_size(e.shape, itemsize, expected) || expected != e.end - e.begin)
        throw Error(where(path, name) + "byte size " + std::to_string(e.end - e.begin) +
                    " does not match dtype " + e.dtype + " x shape (" + std::to_string(expected) +
                    " bytes)");
      entries_.emplace(name, std::move(e));
    }

    // The tensors must tile the buffer: sorted by offset, each starts where the previous ended.
    std::vector<const SafetensorsEntry*> sorted;
    for (const auto& [_, e] : entries_) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::uint64_t cursor = 0;
    const SafetensorsEntry* previous = nullptr;
    for (const auto* e : sorted) {
      if (e->begin < cursor)
        throw Error(where(path, e->name) + "data_offsets [" + std::to_string(e->begin) + ", " +
                    std::to_string(e->end) + "] overlap tensor '" + previous->name + "'");
      if (e->begin > cursor)
        throw Error(where(path, e->name) + "data_offsets begin " + std::to_string(e->begin) +
                    " leaves a gap after byte " + std::to_string(cursor));
      cursor = e->end;
      previous = e;
      order_.push_back(e->name);
    }
    if (cursor != buffer_size)
      throw Error(file + ": safetensors buffer has " + std::to_string(buffer_size - cursor) +
                  " bytes not covered by any tensor");
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

std::vector<std::string> SafetensorsFile::names() const { return order_; }

bool SafetensorsFile::contains(const std::string& name) const { return entries_.count(name) > 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error(where(path_, name) + "not in the file");
  return it->second;
}

torch::Tensor SafetensorsFile::load(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  torch::Tensor out = torch::empty(e.shape, torch::TensorOptions().dtype(e.scalar_type));
  if (e.end > e.begin) {
    const char* src = static_cast<const char*>(map_) + buffer_offset_ + e.begin;
    std::memcpy(out.data_ptr(), src, e.end - e.begin);
    // Drop the pages just read from this process's resident set (they stay in the page cache),
    // so loading a model never counts the file and the weights at once.
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto first = (reinterpret_cast<std::uintptr_t>(src) + page - 1) / page * page;
    const auto last = (reinterpret_cast<std::uintptr_t>(src) + (e.end - e.begin)) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
  // NaN or Inf weights make every result computed from them NaN; they come from a corrupt file
  // or a run that diverged, and are refused where they enter (one pass over the tensor).
  if (!all_finite(out))
    throw Error(where(path_, name) + std::to_string(count_non_finite(out)) + " of " +
                std::to_string(out.numel()) +
                " values are NaN or Inf (a corrupt file, or saved from a diverged run)");
  return out;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsCheckpoint

SafetensorsCheckpoint::SafetensorsCheckpoint(const fs::path& path) : origin_(path) {
  fs::path index;
  fs::path single;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "model.safetensors.index.json"))
      index = path / "model.safetensors.index.json";
    else if (fs::exists(path / "model.safetensors"))
      single = path / "model.safetensors";
    else
      throw Error(path.string() +
                  ": no model.safetensors or model.safetensors.index.json in the directory");
  } else if (path.extension() == ".json") {
    index = path;
  } else {
    single = path;
  }

  if (!single.empty()) {
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const auto& n : files_[0]->names()) where_[n] = 0;
    return;
  }

  std::ifstream in(index);
  if (!in) throw Error(index.string() + ": cannot open the shard index");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(index.string() + ": shard index is not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(index.string() + ": shard index has no \"weight_map\" object");
  std::map<std::string, std::size_t> shard_index;
  const fs::path dir = index.parent_path();
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string())
      throw Error(index.string() + ": weight_map '" + it.key() + "' is not a file name");
    const std::string shard = it.value().get<std::string>();
    auto found = shard_index.find(shard);
    if (found == shard_index.end()) {
      std::error_code ec;  // a shard name the OS rejects (too long, …) is missing too
      if (!fs::exists(dir / shard, ec))
        throw Error(index.string() + ": tensor '" + it.key() + "' maps to missing shard " +
                    (dir / shard).string());
      files_.push_back(std::make_unique<SafetensorsFile>(dir / shard));
      found = shard_index.emplace(shard, files_.size() - 1).first;
    }
    if (!files_[found->second]->contains(it.key()))
      throw Error(where(dir / shard, it.key()) + "listed in " + index.filename().string() +
                  " but not in the shard");
    where_[it.key()] = found->second;
  }
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : where_) out.push_back(n);
  return out;
}

bool SafetensorsCheckpoint::contains(const std::string& name) const {
  return where_.count(name) > 0;
}

const SafetensorsFile& SafetensorsCheckpoint::file_for(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw Error(origin_.string() + ": tensor '" + name + "' is not in the checkpoint");
  return *files_[it->second];
}

torch::Tensor SafetensorsCheckpoint::load(const std::string& name) const {
  return file_for(name).load(name);
}

const SafetensorsEntry& SafetensorsCheckpoint::entry(const std::string& name) const {
  return file_for(name).entry(name);
}

const fs::path& SafetensorsCheckpoint::file_of(const std::string& name) const {
  return file_for(name).path();
}

// ---------------------------------------------------------------------------------------------
// Writer

void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> payload;
  std::uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second)
      throw Error(path.string() + ": tensor '" + name + "' is reserved or duplicated");
    if (!tensor.defined()) throw Error(where(path, name) + "undefined tensor");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    payload.push_back(std::move(t));
  }
  std::string text = header.dump();
  // transformers pads the header so the buffer starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  write_safetensors_file(path, text, payload);
}

void save_safetensors_checkpoint(const fs::path& dir,
                                 const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                 std::int64_t max_shard_bytes, const std::string& stem) {
  fs::create_directories(dir);
  // Remove what a previous save may have left (a sharded save replaced by a single file, …).
  for (const auto& f : fs::directory_iterator(dir)) {
    const std::string n = f.path().filename().string();
    if (n == stem + ".safetensors.index.json" ||
        (n.rfind(stem + "-", 0) == 0 && f.path().extension() == ".safetensors"))
      fs::remove(f.path());
  }

  std::vector<std::vector<std::pair<std::string, torch::Tensor>>> shards(1);
  std::int64_t shard_bytes = 0, total = 0;
  for (const auto& nt : tensors) {
    const std::int64_t b = nt.second.numel() * static_cast<std::int64_t>(nt.second.element_size());
    if (!shards.back().empty() && shard_bytes + b > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(nt);
    shard_bytes += b;
    total += b;
  }
  if (shards.size() == 1) {
    save_safetensors(dir / (stem + ".safetensors"), tensors);
    return;
  }
  fs::remove(dir / (stem + ".safetensors"));
  json weight_map = json::object();
  const auto count = shards.size();
  auto shard_name = [&](std::size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu.safetensors", i + 1, count);
    return stem + buf;
  };
  for (std::size_t i = 0; i < count; ++i) {
    save_safetensors(dir / shard_name(i), shards[i]);
    for (const auto& nt : shards[i]) weight_map[nt.first] = shard_name(i);
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const fs::path index_path = dir / (stem + ".safetensors.index.json");
  write_file_atomically(index_path, index.dump(2) + "\n");
}

}  // namespace rlhf
