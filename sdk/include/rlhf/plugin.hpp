// Plugin manifest, ABI tag and the export macro — everything a plugin library needs to be
// discovered by rlhf-host.
//
// A plugin is a shared library exporting exactly one C symbol, `rlhf_plugin_manifest`, which
// returns a pointer to a static PluginManifest. Write it with the RLHF_PLUGIN macro, never by hand:
//
//   class MyLoss : public rlhf::Algorithm { public: explicit MyLoss(const rlhf::Config& c); ... };
//   RLHF_PLUGIN(rlhf::PluginKind::algorithm, MyLoss, "my_loss", "0.1.0", "My preference loss")
//
// The host loads the library, calls the entry point, and refuses the plugin unless its
// `abi_tag` equals the host's and its ABI minor is not newer than the host's (version.hpp; one
// line naming the file and both versions). Plugins pass C++ and
// LibTorch types across the boundary, so the tag pins the SDK ABI version, the LibTorch version
// and the compiler's C++ ABI: all three must match for the objects to be layout-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "rlhf/version.hpp"

namespace rlhf {

class Config;

// The five extension points. Each interface derives from Plugin.
enum class PluginKind : std::uint32_t { algorithm, quantizer, adapter, data, reward_model };

const char* to_string(PluginKind kind);
// "algorithm" / "quantizer" / "adapter" / "data" / "reward_model"; throws rlhf::Error otherwise.
PluginKind plugin_kind_from_string(const std::string& name);

// Base of every object a plugin creates. Objects are destroyed through this virtual destructor,
// always before the library that made them is unloaded.
class Plugin {
 public:
  virtual ~Plugin();
};

// What the entry point returns. Layout rule: fields are only appended, and the first field is
// the ABI version, so a host can read it from any plugin before trusting the rest.
struct PluginManifest {
  std::uint32_t abi_version;  // RLHF_SDK_ABI_VERSION the plugin was built with
  const char* abi_tag;        // RLHF_ABI_TAG the plugin was built with (see version.hpp)
  PluginKind kind;
  const char* name;         // unique per kind; what a pipeline's `plugin = "…"` names
  const char* version;      // the plugin's own version, e.g. "1.0.0"
  const char* description;  // one line for `rlhf-host --list-plugins`
  // Creates the object from its config table. It must read (and so declare) every key it
  // accepts, validate them, and throw rlhf::ConfigError on bad values; it must not do heavy
  // work (no weight loading): `rlhf-host --check` constructs plugins to validate a pipeline.
  Plugin* (*create)(const Config& config);
  std::uint32_t abi_minor;  // RLHF_SDK_ABI_MINOR the plugin was built with (since ABI 3)
};

// The host-side signature of the entry point.
using PluginEntryPoint = const PluginManifest* (*)();

}  // namespace rlhf

#define RLHF_PLUGIN_ENTRY_POINT rlhf_plugin_manifest

// Emits the plugin's one exported entry point. CLASS must be constructible from
// `const rlhf::Config&` and derive from the interface matching KIND.
// (kept by hand: clang-format would put one argument per line)
// clang-format off
#define RLHF_PLUGIN(KIND, CLASS, NAME, VERSION, DESCRIPTION)                                  \
  extern "C" __attribute__((visibility("default"))) const ::rlhf::PluginManifest*             \
  RLHF_PLUGIN_ENTRY_POINT() {                                                                 \
    static const ::rlhf::PluginManifest manifest{                                             \
        RLHF_SDK_ABI_VERSION, RLHF_ABI_TAG, KIND, NAME, VERSION, DESCRIPTION,                 \
        [](const ::rlhf::Config& config) -> ::rlhf::Plugin* { return new CLASS(config); },    \
        RLHF_SDK_ABI_MINOR};                                                                  \
    return &manifest;                                                                         \
  }
// clang-format on
