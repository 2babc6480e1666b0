#include "run_fingerprint.hpp"

#include <toml++/toml.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "toml_floats.hpp"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace rlhf::host {
namespace {

constexpr const char* kFormat = "rlhf-host-fingerprint";
constexpr int kVersion = 1;

// Keys that decide when to log, evaluate or save, not what is computed: changing them on
// --resume is allowed.
const std::set<std::string> kBookkeepingKeys = {"logging_steps", "save_steps", "save_total_limit",
                                                "eval_steps"};

constexpr std::uint64_t kWholeFileLimit = std::uint64_t{64} << 20;
constexpr std::uint64_t kEdgeBytes = std::uint64_t{1} << 20;
constexpr std::uint64_t kBlockBytes = std::uint64_t{64} << 10;
constexpr int kSpreadBlocks = 32;
constexpr std::size_t kMaxFilesPerFolder = 256;

struct Fnv1a {
  std::uint64_t state = 0xcbf29ce484222325ull;
  void add(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      state ^= static_cast<unsigned char>(data[i]);
      state *= 0x100000001b3ull;
    }
  }
};

void hash_range(std::ifstream& in, std::uint64_t begin, std::uint64_t size, Fnv1a& hash) {
  std::vector<char> buffer(std::min<std::uint64_t>(size, std::uint64_t{1} << 20));
  in.clear();
  in.seekg(static_cast<std::streamoff>(begin));
  while (size > 0 && in) {
    const auto n = static_cast<std::streamsize>(std::min<std::uint64_t>(size, buffer.size()));
    in.read(buffer.data(), n);
    hash.add(buffer.data(), static_cast<std::size_t>(in.gcount()));
    size -= static_cast<std::uint64_t>(n);
  }
}

// "size 1234, fnv1a64 0123456789abcdef" (a sampled hash above kWholeFileLimit).
std::string file_identity(const fs::path& file) {
  std::error_code ec;
  const std::uint64_t size = fs::file_size(file, ec);
  if (ec) return "unreadable";
  std::ifstream in(file, std::ios::binary);
  if (!in) return "unreadable";
  Fnv1a hash;
  const bool whole = size <= kWholeFileLimit;
  if (whole) {
    hash_range(in, 0, size, hash);
  } else {
    hash_range(in, 0, kEdgeBytes, hash);
    const std::uint64_t stride = (size - 2 * kEdgeBytes) / (kSpreadBlocks + 1);
    for (int i = 1; i <= kSpreadBlocks; ++i)
      hash_range(in, kEdgeBytes + stride * static_cast<std::uint64_t>(i), kBlockBytes, hash);
    hash_range(in, size - kEdgeBytes, kEdgeBytes, hash);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash.state));
  return "size " + std::to_string(size) + (whole ? ", fnv1a64 " : ", sampled fnv1a64 ") + hex;
}

// The content of a path-valued key: {"": identity} for a file, {name: identity} per regular
// file of a folder (not recursive). Null when the value names nothing on disk.
json content_of(const std::string& value) {
  std::error_code ec;
  if (value.empty()) return nullptr;
  const fs::path p(value);
  if (fs::is_regular_file(p, ec)) return json{{"", file_identity(p)}};
  if (!fs::is_directory(p, ec)) return nullptr;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(p, ec))
    if (entry.is_regular_file(ec)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  json out = json::object();
  for (std::size_t i = 0; i < files.size() && i < kMaxFilesPerFolder; ++i)
    out[files[i].filename().string()] = file_identity(files[i]);
  return out;
}

std::string render(const toml::node& node) {
  // Strings in double quotes whatever quotes the file used (toml++ prints 'literal' strings).
  if (const auto* s = node.as_string()) return nlohmann::json(s->get()).dump();
  std::ostringstream out;
  node.visit([&](const auto& n) { out << n; });
  return shortest_toml_floats(out.str());
}

// Every leaf under `table` as "prefix.key"; arrays are leaves.
void add_leaves(const toml::table& table, const std::string& prefix, bool skip_bookkeeping,
                json& keys) {
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    const std::string path = prefix + "." + name;
    if (const auto* sub = node.as_table()) {
      add_leaves(*sub, path, false, keys);
      continue;
    }
    if (skip_bookkeeping && kBookkeepingKeys.count(name)) continue;
    json entry = {{"value", render(node)}};
    if (const auto* s = node.as_string()) {
      json content = content_of(s->get());
      if (!content.is_null()) entry["content"] = std::move(content);
    }
    keys[path] = std::move(entry);
  }
}

// What differs between two contents: "model.safetensors changed", "tokenizer.model added".
std::string content_change(const json& was, const json& now) {
  std::vector<std::string> parts;
  for (auto it = was.begin(); it != was.end(); ++it) {
    const std::string name = it.key().empty() ? "the file" : it.key();
    if (!now.contains(it.key()))
      parts.push_back(name + " removed");
    else if (now[it.key()] != it.value())
      parts.push_back(name + " changed (" + it.value().get<std::string>() + " → " +
                      now[it.key()].get<std::string>() + ")");
  }
  for (auto it = now.begin(); it != now.end(); ++it)
    if (!was.contains(it.key())) parts.push_back(it.key() + " added");
  std::string out;
  for (std::size_t i = 0; i < parts.size() && i < 3; ++i) out += (i ? ", " : "") + parts[i];
  if (parts.size() > 3) out += ", …";
  return out;
}

}  // namespace

json stage_fingerprint(const Pipeline& pipeline, std::size_t stage_index) {
  json keys = json::object();
  keys["run.seed"] = {{"value", std::to_string(pipeline.seed)}};
  for (const char* table : {"model", "quantizer", "adapter"})
    if (const auto* t = pipeline.document->get_as<toml::table>(table))
      add_leaves(*t, table, false, keys);
  std::string names;
  if (const auto* stages = pipeline.document->get_as<toml::array>("stage")) {
    for (std::size_t i = 0; i <= stage_index && i < stages->size(); ++i) {
      const auto* t = stages->get_as<toml::table>(i);
      if (!t) continue;
      const std::string name = t->get_as<std::string>("name")
                                   ? t->get_as<std::string>("name")->get()
                                   : std::to_string(i);
      names += (i ? ", " : "") + name;
      add_leaves(*t, "stage." + name, true, keys);
    }
  }
  keys["stages"] = {{"value", names}};
  return json{{"format", kFormat}, {"version", kVersion}, {"keys", keys}};
}

std::vector<std::string> fingerprint_differences(const json& recorded, const json& current) {
  std::vector<std::string> out;
  const json& was = recorded.at("keys");
  const json& now = current.at("keys");
  auto value = [](const json& entry) { return entry.at("value").get<std::string>(); };
  for (auto it = was.begin(); it != was.end(); ++it) {
    if (!now.contains(it.key())) {
      out.push_back(it.key() + ": was " + value(it.value()) + ", now unset");
      continue;
    }
    const json& a = it.value();
    const json& b = now[it.key()];
    if (a.contains("content") && b.contains("content")) {
      if (a["content"] == b["content"]) continue;  // same content, possibly moved
      if (value(a) != value(b))
        out.push_back(it.key() + ": was " + value(a) + ", now " + value(b));
      else
        out.push_back(it.key() + ": " + value(b) + " changed since the run started (" +
                      content_change(a["content"], b["content"]) + ")");
      continue;
    }
    if (value(a) != value(b)) out.push_back(it.key() + ": was " + value(a) + ", now " + value(b));
  }
  for (auto it = now.begin(); it != now.end(); ++it)
    if (!was.contains(it.key())) out.push_back(it.key() + ": was unset, now " + value(it.value()));
  return out;
}

void write_fingerprint(const fs::path& stage_dir, const json& fingerprint) {
  write_file_atomically(stage_dir / kFingerprintFile, fingerprint.dump(2) + "\n");
}

std::optional<json> read_fingerprint(const fs::path& stage_dir) {
  const fs::path file = stage_dir / kFingerprintFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  std::ifstream in(file);
  json j;
  try {
    in >> j;
  } catch (const std::exception&) {
    throw Error(file.string() +
                ": not a valid fingerprint (not JSON); start anew with --overwrite");
  }
  if (!j.is_object() || j.value("format", "") != kFormat || j.value("version", 0) != kVersion ||
      !j.contains("keys") || !j["keys"].is_object())
    throw Error(file.string() + ": not an rlhf-host fingerprint version " +
                std::to_string(kVersion) + "; start anew with --overwrite");
  auto valid_entry = [](const json& entry) {
    if (!entry.is_object() || !entry.contains("value") || !entry["value"].is_string()) return false;
    if (!entry.contains("content")) return true;
    if (!entry["content"].is_object()) return false;
    for (const auto& identity : entry["content"])
      if (!identity.is_string()) return false;
    return true;
  };
  for (auto it = j["keys"].begin(); it != j["keys"].end(); ++it)
    if (!valid_entry(it.value()))
      throw Error(file.string() + ": key '" + it.key() +
                  "' is malformed; start anew with --overwrite");
  return j;
}

}  // namespace rlhf::host
