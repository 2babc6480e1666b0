#include "rlhf/plugin.hpp"

#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/reward_model.hpp"
#include "rlhf/version.hpp"

namespace rlhf {

// Out-of-line destructors: the type_info of every interface lives in librlhf_sdk, so a
// dynamic_cast in the host recognises objects made by plugins.
Plugin::~Plugin() = default;

const char* sdk_abi_tag() { return RLHF_ABI_TAG; }

const char* to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::algorithm:
      return "algorithm";
    case PluginKind::quantizer:
      return "quantizer";
    case PluginKind::adapter:
      return "adapter";
    case PluginKind::data:
      return "data";
    case PluginKind::reward_model:
      return "reward_model";
  }
  return "unknown";
}

PluginKind plugin_kind_from_string(const std::string& name) {
  for (auto k : {PluginKind::algorithm, PluginKind::quantizer, PluginKind::adapter,
                 PluginKind::data, PluginKind::reward_model})
    if (name == to_string(k)) return k;
  throw Error("unknown plugin kind '" + name +
              "' (known: algorithm, quantizer, adapter, data, reward_model)");
}

}  // namespace rlhf
