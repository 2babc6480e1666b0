// Test algorithm "test_abi_mismatch": stamped with a foreign ABI tag (see CMakeLists.txt).
#include "rlhf/algorithm.hpp"
#include "rlhf/error.hpp"

namespace {

class TestAbiMismatch : public rlhf::Algorithm {
 public:
  explicit TestAbiMismatch(const rlhf::Config&) {}
  void run(rlhf::StageContext&) override { throw rlhf::Error("must never run"); }
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::algorithm, TestAbiMismatch, "test_abi_mismatch", "0.0.1",
            "test only: built with a foreign ABI tag")
