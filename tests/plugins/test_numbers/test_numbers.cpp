// Test data source "test_numbers": `count` synthetic examples whose text encodes their index and
// the load seed, so a test can tell exactly which examples an algorithm was handed.
#include "rlhf/config.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/error.hpp"

namespace {

class TestNumbers : public rlhf::DataSource {
 public:
  explicit TestNumbers(const rlhf::Config& config)
      : count_(config.get<std::int64_t>("count", 4)),
        prefix_(config.get<std::string>("prefix", "q")) {
    if (count_ <= 0) config.fail("count", "must be positive, got " + std::to_string(count_));
  }
  void load(std::uint64_t seed) override { seed_ = seed, loaded_ = true; }
  std::size_t size(rlhf::Split split) const override {
    return split == rlhf::Split::train && loaded_ ? static_cast<std::size_t>(count_) : 0;
  }
  rlhf::Example at(std::size_t index, rlhf::Split split) const override {
    if (index >= size(split)) throw rlhf::Error("test_numbers: index out of range");
    rlhf::Example e;
    e.prompt = {{"user", prefix_ + std::to_string(index)}};
    e.completion = {{"assistant", "seed" + std::to_string(seed_)}};
    e.source = "test_numbers:" + std::to_string(index);
    return e;
  }

 private:
  std::int64_t count_;
  std::string prefix_;
  std::uint64_t seed_ = 0;
  bool loaded_ = false;
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::data, TestNumbers, "test_numbers", "0.0.1",
            "test only: synthetic examples naming their index and seed")
