// Test algorithm "test_abi_newer_minor": poses as built against a newer SDK minor than the host's
// (see CMakeLists.txt), so it may use additions the host lacks: the host must refuse it.
#include "rlhf/algorithm.hpp"
#include "rlhf/error.hpp"

namespace {

class TestAbiNewerMinor : public rlhf::Algorithm {
 public:
  explicit TestAbiNewerMinor(const rlhf::Config&) {}
  void run(rlhf::StageContext&) override { throw rlhf::Error("must never run"); }
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::algorithm, TestAbiNewerMinor, "test_abi_newer_minor", "0.0.1",
            "test only: built against a newer SDK ABI minor")
