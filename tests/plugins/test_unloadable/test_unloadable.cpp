// Test algorithm "test_unloadable": calls a function that exists nowhere.
#include "rlhf/algorithm.hpp"

extern "C" void rlhf_test_function_defined_nowhere();

namespace {

class TestUnloadable : public rlhf::Algorithm {
 public:
  explicit TestUnloadable(const rlhf::Config&) {}
  void run(rlhf::StageContext&) override { rlhf_test_function_defined_nowhere(); }
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::algorithm, TestUnloadable, "test_unloadable", "0.0.1",
            "test only: has an unresolved symbol")
