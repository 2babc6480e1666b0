// Test algorithm registered under the name of test_recorder (see CMakeLists.txt).
#include "rlhf/algorithm.hpp"

namespace {

class TestDuplicate : public rlhf::Algorithm {
 public:
  explicit TestDuplicate(const rlhf::Config&) {}
  void run(rlhf::StageContext&) override {}
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::algorithm, TestDuplicate, "test_recorder", "0.0.2",
            "test only: clashes with test_recorder")
