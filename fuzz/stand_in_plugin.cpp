// One stand-in plugin library for pipeline_fuzz: the manifest of a plugin kind + name (given as
// RLHF_FUZZ_PLUGIN_KIND / RLHF_FUZZ_PLUGIN_NAME when built), whose objects the fuzz executable
// makes (pipeline_stand_ins.cpp). The manifest is written out because RLHF_PLUGIN would need
// the object's class here, and that class lives in the executable.
#include "rlhf/plugin.hpp"
#include "rlhf/version.hpp"

extern "C" rlhf::Plugin* rlhf_fuzz_make_plugin(rlhf::PluginKind kind, const char* name,
                                               const rlhf::Config& config);

extern "C" __attribute__((visibility("default"))) const rlhf::PluginManifest*
RLHF_PLUGIN_ENTRY_POINT() {
  static const rlhf::PluginManifest manifest{RLHF_SDK_ABI_VERSION,
                                             RLHF_ABI_TAG,
                                             rlhf::PluginKind::RLHF_FUZZ_PLUGIN_KIND,
                                             RLHF_FUZZ_PLUGIN_NAME,
                                             "0.0.0",
                                             "fuzz stand-in",
                                             [](const rlhf::Config& config) {
                                               return rlhf_fuzz_make_plugin(
                                                   rlhf::PluginKind::RLHF_FUZZ_PLUGIN_KIND,
                                                   RLHF_FUZZ_PLUGIN_NAME, config);
                                             }};
  return &manifest;
}
