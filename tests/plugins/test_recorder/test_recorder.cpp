// Test algorithm "test_recorder": trains nothing. It writes what the host composed for its
// stage to `<stage_dir>/<output>` (one `key=value` per line) and logs `steps` metric lines with
// loss = 1/step, so tests can check composition, seeding and the metrics plumbing.
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/config.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/reward_model.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace {

class TestRecorder : public rlhf::Algorithm {
 public:
  explicit TestRecorder(const rlhf::Config& config)
      : steps_(config.get<std::int64_t>("steps", 2)),
        output_(config.get<std::string>("output", "composition.txt")),
        load_model_(config.get<bool>("load_model", false)),
        step_sleep_ms_(config.get<int>("step_sleep_ms", 0)) {
    if (steps_ < 0) config.fail("steps", "must be >= 0");
  }

  void run(rlhf::StageContext& ctx) override {
    std::ostringstream out;
    out << "stage=" << ctx.stage_name << "\n"
        << "index=" << ctx.stage_index << "\n"
        << "seed=" << ctx.seed << "\n"
        << "device=" << ctx.device.str() << "\n"
        << "dtype=" << c10::toString(ctx.dtype) << "\n"
        << "chat_template=" << ctx.chat_template << "\n";
    if (ctx.data) {
      out << "data.size=" << ctx.data->size() << "\n";
      if (ctx.data->size() > 0) {
        auto e = ctx.data->at(0);
        out << "data.first_prompt=" << e.prompt.at(0).content << "\n"
            << "data.first_completion=" << e.completion.at(0).content << "\n";
      }
    }
    if (ctx.quantizer) {
      // 0.123 and -0.456 go through the quantizer and back.
      auto w = ctx.quantizer->quantize(torch::tensor({{0.123, -0.456}}), "probe", torch::kFloat64);
      auto d = w->dense(torch::kFloat64);
      out << "quantizer.probe=" << d[0][0].item<double>() << "," << d[0][1].item<double>() << "\n";
    }
    if (ctx.adapter) {
      double sum = 0;
      for (auto& p : ctx.adapter->parameters()) sum += p.sum().item<double>();
      out << "adapter.sum=" << sum << "\n";
    }
    if (ctx.reward_model) {
      auto s = ctx.reward_model->score({rlhf::Example{}}, {"abcd"});
      out << "reward.abcd=" << s[0].item<float>() << "\n";
    }
    if (load_model_) {
      auto model = ctx.model();
      std::int64_t frozen = 0;
      for (const auto& p : model->parameters()) frozen += p.requires_grad() ? 0 : 1;
      // A counter kept on the model itself: a stage that continues an earlier stage's policy
      // sees that stage's visit.
      const auto buffers = model->named_buffers(false);
      const torch::Tensor* found = buffers.find("test_recorder_visits");
      torch::Tensor visits =
          found ? *found : model->register_buffer("test_recorder_visits", torch::zeros({1}));
      visits.add_(1);
      out << "model.parameters=" << model->parameters().size() << "\n"
          << "model.frozen=" << frozen << "\n"
          << "model.visits=" << visits.item<double>() << "\n"
          << "tokenizer.vocab=" << ctx.tokenizer()->vocab_size() << "\n";
    }
    std::int64_t step = 1;
    for (; step <= steps_ && !ctx.stop_requested(); ++step) {
      ctx.metrics->log(ctx.stage_name, step, static_cast<double>(step) / steps_,
                       {{"loss", 1.0 / step}, {"learning_rate", 0.0}});
      std::this_thread::sleep_for(std::chrono::milliseconds(step_sleep_ms_));
    }
    out << "steps.done=" << step - 1 << "\n"
        << "stopped=" << (ctx.stop_requested() ? 1 : 0) << "\n";
    std::filesystem::path file = ctx.stage_dir / output_;
    std::ofstream(file.string() + ".tmp") << out.str();
    std::filesystem::rename(file.string() + ".tmp", file);
  }

 private:
  std::int64_t steps_;
  std::string output_;
  bool load_model_;
  int step_sleep_ms_;  // makes steps slow enough for a test to interrupt
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::algorithm, TestRecorder, "test_recorder", "0.0.1",
            "test only: records what the host composed for its stage")
