#include "plugin_registry.hpp"

#include <dlfcn.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <tuple>

#include "rlhf/version.hpp"

namespace rlhf::host {

namespace fs = std::filesystem;

struct PluginRegistry::Library {
  boost::dll::shared_library library;
  const PluginManifest* manifest = nullptr;
};

namespace {

const char* or_empty(const char* s) { return s ? s : ""; }

bool is_shared_library(const fs::directory_entry& entry) {
  std::error_code ec;
  return entry.path().extension() == ".so" && entry.is_regular_file(ec);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "none" : out;
}

}  // namespace

PluginRegistry::PluginRegistry(const std::vector<fs::path>& dirs,
                               std::shared_ptr<spdlog::logger> logger)
    : logger_(std::move(logger)) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      if (logger_) logger_->debug("plugin folder {} does not exist; skipped", dir.string());
      continue;
    }
    // Sorted, so discovery (and any duplicate error) does not depend on directory order.
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (is_shared_library(entry)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) inspect(file);
  }
  std::sort(plugins_.begin(), plugins_.end(), [](const PluginRecord& a, const PluginRecord& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
}

PluginRegistry::~PluginRegistry() = default;

void PluginRegistry::inspect(const fs::path& file) {
  auto canonical = fs::weakly_canonical(file);
  if (libraries_.count(canonical)) return;  // the same folder listed twice
  auto lib = std::make_shared<Library>();
  try {
    // rtld_now: an unresolved symbol fails here, with a message, instead of crashing on the
    // first call into the plugin.
    lib->library.load(boost::dll::fs::path(file.string()),
                      boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    const char* reason = ::dlerror();
    throw Error(file.string() + ": cannot load plugin library: " +
                (reason ? std::string(reason) : std::string(e.what())));
  }
  const char* entry = RLHF_STRINGIFY(RLHF_PLUGIN_ENTRY_POINT);
  if (!lib->library.has(entry)) {
    if (logger_)
      logger_->debug("{}: no {} entry point; not a plugin, skipped", file.string(), entry);
    return;
  }
  // A plugin's code must outlive everything it made, and that includes exceptions: an
  // rlhf::Error thrown by a plugin has its vtable and destructor in the plugin's copy of the
  // (header-only) class, and the registry is destroyed while that exception unwinds to the
  // host's handler, which then calls what(). Marking the library RTLD_NODELETE keeps it mapped
  // until the process exits, whatever is unloaded (docs/reliability.md, "plugin errors").
  if (!::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE))
    throw Error(file.string() + ": cannot pin plugin library: " + or_empty(::dlerror()));
  lib->manifest = lib->library.get<const PluginManifest*()>(entry)();
  if (!lib->manifest) throw Error(file.string() + ": " + entry + "() returned no manifest");
  const PluginManifest& m = *lib->manifest;

  // The ABI version is the manifest's first field and fields are only appended, so the rest
  // can be read (not trusted) even from a plugin built against another SDK.
  PluginRecord record{m.kind,
                      or_empty(m.name),
                      or_empty(m.version),
                      or_empty(m.description),
                      or_empty(m.abi_tag),
                      file,
                      false,
                      0,
                      {}};
  // abi_minor exists in manifests of ABI 3 and later: read it only once the major matched.
  const bool same_tag = m.abi_version == RLHF_SDK_ABI_VERSION && record.abi_tag == sdk_abi_tag();
  record.abi_minor = same_tag ? m.abi_minor : 0;
  record.abi_ok = same_tag && abi_compatible(m.abi_version, record.abi_minor, RLHF_SDK_ABI_VERSION,
                                             RLHF_SDK_ABI_MINOR);
  if (!same_tag)
    record.abi_problem = "plugin built for '" + record.abi_tag + "', host is '" + sdk_abi_tag() +
                         "' (rebuild the plugin against this SDK)";
  else if (!record.abi_ok)
    record.abi_problem =
        "plugin built against SDK ABI " + std::to_string(m.abi_version) + "." +
        std::to_string(record.abi_minor) + ", host has " + std::to_string(RLHF_SDK_ABI_VERSION) +
        "." + std::to_string(RLHF_SDK_ABI_MINOR) +
        " (a newer minor: update rlhf-host, or rebuild the plugin against this SDK)";
  if (record.name.empty()) throw Error(file.string() + ": plugin manifest has an empty name");
  if (const PluginRecord* other = find(record.kind, record.name))
    throw Error("duplicate " + std::string(to_string(record.kind)) + " plugin '" + record.name +
                "' in " + other->file.string() + " and " + file.string() +
                " (remove one from the plugin path)");
  if (logger_)
    logger_->debug("found {} plugin '{}' {} in {}{}", to_string(record.kind), record.name,
                   record.version, file.string(), record.abi_ok ? "" : " (ABI mismatch)");
  plugins_.push_back(std::move(record));
  libraries_[canonical] = std::move(lib);
}

const std::vector<PluginRecord>& PluginRegistry::plugins() const { return plugins_; }

std::vector<std::string> PluginRegistry::names(PluginKind kind) const {
  std::vector<std::string> out;
  for (const auto& p : plugins_)
    if (p.kind == kind) out.push_back(p.name);
  std::sort(out.begin(), out.end());
  return out;
}

const PluginRecord* PluginRegistry::find(PluginKind kind, const std::string& name) const {
  for (const auto& p : plugins_)
    if (p.kind == kind && p.name == name) return &p;
  return nullptr;
}

const PluginRecord& PluginRegistry::require(PluginKind kind, const std::string& name) const {
  const PluginRecord* record = find(kind, name);
  if (!record) {
    auto known = names(kind);
    std::string hint;
    if (auto close = closest_match(name, known); !close.empty())
      hint = "did you mean '" + close + "'? ";
    throw Error("unknown " + std::string(to_string(kind)) + " plugin '" + name + "' (" + hint +
                "known: " + join(known) + "; add folders with --plugin-path or RLHF_PLUGIN_PATH)");
  }
  if (!record->abi_ok)
    throw Error(record->file.string() + ": ABI mismatch for " + to_string(kind) + " plugin '" +
                name + "': " + record->abi_problem);
  return *record;
}

std::shared_ptr<Plugin> PluginRegistry::create_plugin(PluginKind kind, const std::string& name,
                                                      const Config& config) {
  const PluginRecord& record = require(kind, name);
  std::shared_ptr<Library> lib = libraries_.at(fs::weakly_canonical(record.file));
  Plugin* raw = lib->manifest->create(config);
  if (!raw) throw Error(record.file.string() + ": plugin '" + name + "' created no object");
  // The deleter owns a reference to the library: it is unloaded only after the object is gone.
  return std::shared_ptr<Plugin>(raw, [lib](Plugin* p) { delete p; });
}

}  // namespace rlhf::host
