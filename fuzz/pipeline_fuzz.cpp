// Fuzzes pipeline loading (host/pipeline.cpp) with --set overrides (host/set_override.cpp): TOML
// syntax, tables, keys and types, [[stage]] tables with model/adapter overrides merged over the
// globals, the plugin tables, and the resolved pipeline.toml a run writes (host/toml_floats.cpp).
//
// Input: a pipeline file; the lines after a line "#--set" (a TOML comment) are --set arguments,
// one per line. Plugins are the stand-ins of pipeline_stand_ins.cpp, named like the real ones.
// Seeds that should get past the folder checks use the model folder /tmp/rlhf-fuzz-pipeline/model
// and the data file /tmp/rlhf-fuzz-pipeline/data.jsonl, made here.
// Oracle, besides ASan/UBSan and "only rlhf::Error": the resolved TOML of a pipeline that loads
// parses back to the same document, floats bit for bit.
#include <toml++/toml.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fuzz_util.hpp"
#include "pipeline.hpp"
#include "plugin_registry.hpp"

namespace fs = std::filesystem;
using rlhf::fuzz::check;

namespace {

std::unique_ptr<rlhf::host::PluginRegistry> registry;

bool same(const toml::node& a, const toml::node& b);

bool same_table(const toml::table& a, const toml::table& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a) {
    const toml::node* other = b.get(key);
    if (!other || !same(value, *other)) return false;
  }
  return true;
}

// Structural equality; NaN equals NaN, and -0.0 differs from 0.0 (the bits must survive).
bool same(const toml::node& a, const toml::node& b) {
  if (a.type() != b.type()) return false;
  if (auto* t = a.as_table()) return same_table(*t, *b.as_table());
  if (auto* x = a.as_array()) {
    const toml::array& y = *b.as_array();
    if (x->size() != y.size()) return false;
    for (std::size_t i = 0; i < x->size(); ++i)
      if (!same((*x)[i], y[i])) return false;
    return true;
  }
  if (auto* f = a.as_floating_point()) {
    const double x = f->get(), y = b.as_floating_point()->get();
    return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a.visit([&](const auto& x) {
    using V = std::remove_cv_t<std::remove_reference_t<decltype(x)>>;
    if constexpr (toml::is_value<V>)
      return x == *b.as<typename V::value_type>();
    else
      return false;  // tables and arrays are handled above
  });
}

void make_fixtures() {
  const fs::path dir = "/tmp/rlhf-fuzz-pipeline";
  fs::create_directories(dir / "model");
  std::ofstream(dir / "model/config.json") << "{}\n";
  std::ofstream(dir / "data.jsonl") << R"({"prompt": "p", "completion": "c"})"
                                    << "\n";
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  make_fixtures();
  registry =
      std::make_unique<rlhf::host::PluginRegistry>(std::vector<fs::path>{RLHF_FUZZ_PLUGIN_DIR});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static rlhf::fuzz::MemFile file("pipeline.toml");
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::size_t toml_end = text.size();
  std::vector<std::string> overrides;
  if (auto at = text.find("\n#--set\n"); at != std::string::npos) {
    toml_end = at + 1;
    std::size_t pos = at + 8;
    while (pos < text.size()) {
      auto end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      overrides.push_back(text.substr(pos, end - pos));
      pos = end + 1;
    }
  }
  file.write(text.data(), toml_end);
  rlhf::fuzz::only_rlhf_errors([&] {
    const rlhf::host::Pipeline p = rlhf::host::load_pipeline(file.path(), overrides, *registry);
    const std::string resolved = p.resolved_toml();
    toml::table reparsed;
    try {
      reparsed = toml::parse(resolved);
    } catch (const toml::parse_error& e) {
      rlhf::fuzz::finding("resolved pipeline is not TOML: " + std::string(e.description()) + "\n" +
                          resolved);
    }
    check(same_table(reparsed, *p.document), "resolved pipeline differs:\n" + resolved);
  });
  return 0;
}
