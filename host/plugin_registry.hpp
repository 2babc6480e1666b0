// PluginRegistry — finds rlhf-host plugins on disk and instantiates the ones a pipeline names.
//
// Discovery loads every shared library (*.so) of the search folders once, calls its
// `rlhf_plugin_manifest` entry point (plugin.hpp) and records what it says. Rules:
//   - no entry point            → not a plugin: skipped (debug log);
//   - ABI tag differs           → recorded (abi_ok = false) and refused by create() with one line
//                                 naming the file and both tags;
//   - same kind + name twice    → rlhf::Error naming both files;
//   - library fails to load     → rlhf::Error naming the file and the loader's reason.
// Objects are created only by create(), so only the plugins a pipeline names are instantiated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/plugin.hpp"

namespace spdlog {
class logger;
}

namespace rlhf::host {

struct PluginRecord {
  rlhf::PluginKind kind;
  std::string name, version, description, abi_tag;
  std::filesystem::path file;
  bool abi_ok;
  std::uint32_t abi_minor = 0;  // the SDK ABI minor the plugin was built against
  // Why the plugin cannot be loaded (empty when abi_ok): both tags, or both MAJOR.MINOR.
  std::string abi_problem;
};

class PluginRegistry {
 public:
  // Inspects every shared library (*.so) in `dirs` (non-recursive; missing dirs ignored).
  explicit PluginRegistry(const std::vector<std::filesystem::path>& dirs,
                          std::shared_ptr<spdlog::logger> logger = nullptr);
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Every plugin found, sorted by kind then name.
  const std::vector<PluginRecord>& plugins() const;
  // Names of the plugins of `kind` (sorted), including ABI-mismatched ones.
  std::vector<std::string> names(rlhf::PluginKind kind) const;
  // The record of kind+name, or nullptr.
  const PluginRecord* find(rlhf::PluginKind kind, const std::string& name) const;
  // Throws the "unknown plugin" / "ABI mismatch" error create() would throw; returns the record.
  const PluginRecord& require(rlhf::PluginKind kind, const std::string& name) const;

  // Instantiates a plugin; the returned object keeps its library loaded (the deleter holds the
  // library), so objects are always destroyed before their code is unloaded. Unknown name →
  // rlhf::Error listing the known ones of that kind; wrong ABI → rlhf::Error naming the file
  // and both tags; an object not implementing T → rlhf::Error.
  template <class T>
  std::shared_ptr<T> create(rlhf::PluginKind kind, const std::string& name,
                            const rlhf::Config& config) {
    std::shared_ptr<rlhf::Plugin> object = create_plugin(kind, name, config);
    auto typed = std::dynamic_pointer_cast<T>(object);
    if (!typed)
      throw rlhf::Error("plugin '" + name + "' (" + require(kind, name).file.string() +
                        ") does not implement the " + rlhf::to_string(kind) + " interface");
    return typed;
  }

  // The untyped form of create().
  std::shared_ptr<rlhf::Plugin> create_plugin(rlhf::PluginKind kind, const std::string& name,
                                              const rlhf::Config& config);

 private:
  struct Library;
  void inspect(const std::filesystem::path& file);

  std::shared_ptr<spdlog::logger> logger_;
  std::vector<PluginRecord> plugins_;
  // Loaded plugin libraries by file, with their manifests.
  std::map<std::filesystem::path, std::shared_ptr<Library>> libraries_;
};

}  // namespace rlhf::host
