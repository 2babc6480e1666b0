// The shared training loop on a toy regression task (no language model needed): resume
// bit-for-bit, Ctrl-C checkpoints, gradient accumulation, schedules, logged metrics.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/checkpoint.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/lr_schedule.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/trainer.hpp"
#include "rlhf/training_config.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rlhf;

namespace {

// y = x·w_true + 0.5 with noise; the model is w [4, 1] and b [1] with input dropout, so the
// run draws random numbers (the RNG must be restored on resume).
struct ToyTask {
  torch::Tensor x_train, y_train, x_eval, y_eval;
  torch::Tensor w, b;
  TrainingTask task;
  explicit ToyTask(double dropout = 0.2) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
    x_train = torch::randn({23, 4}, gen);
    y_train = x_train.matmul(torch::tensor({{1.0f}, {-2.0f}, {0.5f}, {3.0f}})) + 0.5;
    x_eval = torch::randn({5, 4}, gen);
    y_eval = x_eval.matmul(torch::tensor({{1.0f}, {-2.0f}, {0.5f}, {3.0f}})) + 0.5;
    w = torch::zeros({4, 1}).set_requires_grad(true);
    b = torch::zeros({1}).set_requires_grad(true);
    task.trainable = {{"w", w}, {"b", b}};
    task.train_size = 23;
    task.eval_size = 5;
    task.step = [this, dropout](const std::vector<std::size_t>& indices, Split split) {
      std::vector<std::int64_t> idx(indices.begin(), indices.end());
      auto i = torch::tensor(idx, torch::kInt64);
      bool train = split == Split::train;
      auto x = (train ? x_train : x_eval).index_select(0, i);
      auto y = (train ? y_train : y_eval).index_select(0, i);
      auto pred = torch::dropout(x, dropout, train).matmul(w) + b;
      auto loss = (pred - y).pow(2).mean();
      double mae = (pred - y).abs().mean().item<double>();
      return StepOutput{loss, {{"mae", mae}}, static_cast<std::int64_t>(indices.size()) * 4, {}};
    };
  }
};

TrainingConfig toy_config() {
  TrainingConfig c;
  c.learning_rate = 0.05;
  c.max_steps = 12;
  c.per_device_train_batch_size = 3;
  c.per_device_eval_batch_size = 2;
  c.gradient_accumulation_steps = 2;
  c.lr_scheduler_type = "cosine";
  c.warmup_ratio = 0.2;
  c.weight_decay = 0.01;
  c.max_grad_norm = 1.0;
  c.logging_steps = 1;
  c.eval_steps = 4;
  c.save_steps = 0;
  return c;
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = rlhf::test::process_temp_path("trainer") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<nlohmann::json> read_metrics(const fs::path& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("tokens_per_second");  // wall clock: the only value allowed to differ
    out.push_back(j);
  }
  return out;
}

StageContext context(const fs::path& dir, MetricsSink* sink) {
  StageContext ctx;
  ctx.stage_name = "toy";
  ctx.seed = 1234;
  ctx.stage_dir = dir / "toy";
  ctx.metrics = sink;
  return ctx;
}

std::string error_of_read(const std::string& toml) {
  try {
    TrainingConfig::read(Config::parse(toml, "p.toml"));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Trainer, ResumeFromMidRunCheckpointReproducesTheRunExactly) {
  // Uninterrupted.
  fs::path a = fresh_dir("a");
  ToyTask ta;
  {
    MetricsSink sink(a);
    StageContext ctx = context(a, &sink);
    Trainer trainer(ctx, toy_config());
    EXPECT_TRUE(trainer.train(ta.task));
  }
  // Interrupted after step 5 (Ctrl-C), then resumed in a fresh process-like setup.
  fs::path b = fresh_dir("b");
  {
    ToyTask tb;
    MetricsSink sink(b);
    StageContext ctx = context(b, &sink);
    // Ctrl-C arrives during optimizer step 5 (2 micro-batches per step); evaluation passes ask
    // too, so the predicate counts training micro-batches, not calls.
    int train_micro_batches = 0;
    auto step = tb.task.step;
    tb.task.step = [&train_micro_batches, step](const std::vector<std::size_t>& indices,
                                                Split split) {
      if (split == Split::train) ++train_micro_batches;
      return step(indices, split);
    };
    ctx.stop_requested = [&train_micro_batches] { return train_micro_batches >= 10; };
    Trainer trainer(ctx, toy_config());
    EXPECT_FALSE(trainer.train(tb.task));
    EXPECT_TRUE(fs::exists(ctx.stage_dir / "checkpoint-5" / "trainer_state.json"));
    EXPECT_FALSE(fs::exists(ctx.stage_dir / "checkpoint-5.tmp"));
  }
  torch::manual_seed(999);  // the resumed run must not depend on the RNG it starts with
  torch::rand({100});
  ToyTask tc;
  {
    MetricsSink sink(b);
    StageContext ctx = context(b, &sink);
    ctx.resume = true;
    Trainer trainer(ctx, toy_config());
    EXPECT_TRUE(trainer.train(tc.task));
  }
  auto full = read_metrics(a);
  auto resumed = read_metrics(b);
  ASSERT_EQ(full.size(), 12u + 3u);  // 12 train lines + eval at steps 4, 8, 12
  ASSERT_EQ(resumed.size(), full.size());
  for (std::size_t i = 0; i < full.size(); ++i) EXPECT_EQ(full[i], resumed[i]) << "line " << i;
  EXPECT_TRUE(torch::equal(ta.w, tc.w));
  EXPECT_TRUE(torch::equal(ta.b, tc.b));
}

TEST(Trainer, LogsLearningRateLossAndEvalMetrics) {
  fs::path d = fresh_dir("log");
  ToyTask t(0.0);
  TrainingConfig config = toy_config();
  {
    MetricsSink sink(d);
    StageContext ctx = context(d, &sink);
    Trainer trainer(ctx, config);
    trainer.train(t.task);
  }
  auto lines = read_metrics(d);
  LrSchedule schedule("cosine", 0.05, 3, 12);  // warmup = ceil(0.2 · 12)
  std::int64_t train_lines = 0;
  for (const auto& j : lines) {
    if (j.contains("eval_loss")) {
      EXPECT_TRUE(j.contains("eval_mae"));
      EXPECT_EQ(j["step"].get<int>() % 4, 0);
      continue;
    }
    ++train_lines;
    std::int64_t step = j["step"].get<std::int64_t>();
    EXPECT_DOUBLE_EQ(j["learning_rate"].get<double>(), schedule.lr(step - 1));
    EXPECT_TRUE(j.contains("loss") && j.contains("mae") && j.contains("grad_norm"));
  }
  EXPECT_EQ(train_lines, 12);
  EXPECT_DOUBLE_EQ(lines[0]["learning_rate"].get<double>(), 0.0);  // warmup starts at 0
  // 23 examples / batch 3 = 8 micro-batches per epoch; step 1 consumed 2 of them.
  EXPECT_DOUBLE_EQ(lines[0]["epoch"].get<double>(), 0.25);
  // The loss goes down on this convex problem.
  EXPECT_LT(lines.back()["eval_loss"].get<double>(),
            lines[3 + 1]["eval_loss"].get<double>() + 1e-9);
}

TEST(Trainer, GradientAccumulationEqualsOneLargeBatch) {
  auto run = [](std::int64_t batch, std::int64_t accumulation) {
    ToyTask t(0.0);
    t.task.train_size = 8;
    t.task.eval_size = 0;
    TrainingConfig c = toy_config();
    c.max_steps = 1;
    c.per_device_train_batch_size = batch;
    c.gradient_accumulation_steps = accumulation;
    c.lr_scheduler_type = "constant";
    c.max_grad_norm = 0;
    StageContext ctx = context(fresh_dir("accum"), nullptr);
    Trainer(ctx, c).train(t.task);
    return t.w.clone();
  };
  auto big = run(4, 1);
  auto accumulated = run(2, 2);
  EXPECT_TRUE(torch::allclose(big, accumulated, 1e-6, 1e-7)) << big << accumulated;
  EXPECT_FALSE(torch::allclose(big, torch::zeros_like(big)));
}

TEST(Trainer, NonFiniteLossStopsBeforeTheUpdateAndSavesNothing) {
  fs::path d = fresh_dir("nan-loss");
  ToyTask t(0.0);
  TrainingConfig c = toy_config();
  c.save_steps = 2;
  c.eval_steps = 0;
  auto step = t.task.step;
  int calls = 0;
  torch::Tensor w_before;
  // Micro-batch 7 (step 4's first) returns NaN: checkpoint-2 exists, step 4 is not applied.
  t.task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    StepOutput out = step(indices, split);
    if (++calls == 7) {
      w_before = t.w.detach().clone();
      out.loss = out.loss * std::numeric_limits<float>::quiet_NaN();
    }
    return out;
  };
  StageContext ctx = context(d, nullptr);
  try {
    Trainer(ctx, c).train(t.task);
    FAIL() << "a NaN loss did not stop the run";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("stage 'toy', step 4: the training loss is nan"), std::string::npos) << msg;
    EXPECT_NE(msg.find("checkpoint-2, is kept"), std::string::npos) << msg;
    EXPECT_NE(msg.find("learning_rate = 0.05"), std::string::npos) << msg;
  }
  EXPECT_TRUE(torch::equal(t.w, w_before)) << "the diverged step was applied";
  EXPECT_TRUE(fs::exists(d / "toy/checkpoint-2"));
  EXPECT_FALSE(fs::exists(d / "toy/checkpoint-4"));
}

TEST(Trainer, NonFiniteWeightsAreNeverReturnedAsAResult) {
  // A parameter that turns NaN while the loss stays finite (e.g. AdamW dividing 0 by 0 for a
  // parameter without gradient): caught before train() returns and the caller saves.
  ToyTask t(0.0);
  torch::Tensor unused = torch::zeros({2}).set_requires_grad(true);
  t.task.trainable.emplace_back("unused", unused);
  auto step = t.task.step;
  t.task.step = [&](const std::vector<std::size_t>& indices, Split split) {
    {
      torch::NoGradGuard no_grad;
      unused.fill_(std::numeric_limits<float>::infinity());
    }
    return step(indices, split);
  };
  TrainingConfig c = toy_config();
  c.max_steps = 2;
  c.eval_steps = 0;
  StageContext ctx = context(fresh_dir("nan-weights"), nullptr);
  try {
    Trainer(ctx, c).train(t.task);
    FAIL() << "non-finite weights were returned as a result";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step 2: parameter 'unused' holds 2 NaN or Inf values"),
              std::string::npos)
        << e.what();
  }
}

TEST(Trainer, EpochPermutationIsSeededAndComplete) {
  auto a = epoch_permutation(50, 7, 0);
  EXPECT_EQ(a, epoch_permutation(50, 7, 0));
  EXPECT_NE(a, epoch_permutation(50, 7, 1));
  EXPECT_NE(a, epoch_permutation(50, 8, 0));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[i], i);
}

TEST(Checkpoint, ForeignVersionAndMissingTensorAreReported) {
  fs::path d = fresh_dir("ckpt");
  auto w = torch::ones({2, 2}).set_requires_grad(true);
  NamedTensors params{{"w", w}};
  TrainingConfig c;
  auto opt = make_adamw(params, c);
  TrainerState s;
  s.global_step = 3;
  save_checkpoint(d / "checkpoint-3", params, *opt, s);
  fs::create_directories(d / "checkpoint-9.tmp");  // a crash mid-write is never picked
  EXPECT_EQ(latest_checkpoint(d).value(), d / "checkpoint-3");

  auto other = torch::zeros({2, 2}).set_requires_grad(true);
  NamedTensors renamed{{"v", other}};
  auto opt2 = make_adamw(renamed, c);
  try {
    load_checkpoint(d / "checkpoint-3", renamed, *opt2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("trainable.pt: tensor 'v' missing"), std::string::npos)
        << e.what();
  }
  std::ofstream(d / "checkpoint-3" / "trainer_state.json")
      << R"({"format": "rlhf-host-checkpoint", "version": 99})";
  try {
    load_checkpoint(d / "checkpoint-3", params, *opt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 99 is not rlhf-host-checkpoint version 1"),
              std::string::npos)
        << e.what();
  }
}

TEST(Checkpoint, SaveTotalLimitPrunesOldest) {
  fs::path d = fresh_dir("prune");
  auto w = torch::ones({2}).set_requires_grad(true);
  NamedTensors params{{"w", w}};
  auto opt = make_adamw(params, TrainingConfig());
  for (int step : {2, 4, 6})
    save_checkpoint(d / ("checkpoint-" + std::to_string(step)), params, *opt, {});
  prune_checkpoints(d, 2);
  EXPECT_FALSE(fs::exists(d / "checkpoint-2"));
  EXPECT_TRUE(fs::exists(d / "checkpoint-4"));
  EXPECT_TRUE(fs::exists(d / "checkpoint-6"));
}

TEST(LrSchedule, MatchesTransformersFormulas) {
  LrSchedule linear("linear", 1.0, 2, 10);
  EXPECT_DOUBLE_EQ(linear.multiplier(0), 0.0);
  EXPECT_DOUBLE_EQ(linear.multiplier(1), 0.5);
  EXPECT_DOUBLE_EQ(linear.multiplier(2), 1.0);
  EXPECT_DOUBLE_EQ(linear.multiplier(6), 0.5);  // (10 − 6) / (10 − 2)
  EXPECT_DOUBLE_EQ(linear.multiplier(10), 0.0);
  LrSchedule cosine("cosine", 2.0, 0, 8);
  EXPECT_DOUBLE_EQ(cosine.lr(0), 2.0);
  EXPECT_NEAR(cosine.lr(4), 1.0, 1e-12);  // half way: ½(1 + cos(π/2))
  EXPECT_NEAR(cosine.lr(2), 2.0 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-12);
  EXPECT_DOUBLE_EQ(LrSchedule("constant", 3.0, 5, 10).lr(0), 3.0);
  EXPECT_DOUBLE_EQ(LrSchedule("constant_with_warmup", 3.0, 4, 10).lr(1), 0.75);
  EXPECT_THROW(LrSchedule("cosin", 1.0, 0, 1), Error);
}

TEST(TrainingConfig, ReadsTrlKeysAndCatchesMisspellings) {
  Config c = Config::parse(
      "learning_rate = 1e-4\nnum_train_epochs = 2\nper_device_train_batch_size = 4\n"
      "gradient_accumulation_steps = 3\nlr_scheduler_type = \"cosine\"\nwarmup_ratio = 0.1\n"
      "max_grad_norm = 0.5\nweight_decay = 0.01\nmax_length = 256\nmax_prompt_length = 128\n"
      "logging_steps = 5\neval_steps = 20\nsave_steps = 50\nlearnig_rate = 3\n",
      "p.toml");
  TrainingConfig t = TrainingConfig::read(c);
  EXPECT_DOUBLE_EQ(t.learning_rate, 1e-4);
  EXPECT_EQ(t.per_device_train_batch_size, 4);
  EXPECT_EQ(t.lr_scheduler_type, "cosine");
  EXPECT_EQ(t.max_prompt_length, 128);
  // 50 examples: ceil(50/4) = 13 micro-batches, ceil(13/3) = 5 steps per epoch, 2 epochs.
  EXPECT_EQ(t.total_steps(50), 10);
  EXPECT_EQ(t.num_warmup_steps(10), 1);
  auto unknown = c.unknown_keys();
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].suggestion, "learning_rate");
}

TEST(TrainingConfig, StepCountsNeverWrap) {
  TrainingConfig t;
  t.num_train_epochs = 1e300;  // beyond read()'s bound: a config built in code
  EXPECT_THROW(t.total_steps(100), Error);
  EXPECT_NE(
      error_of_read("num_train_epochs = 2e6\n").find("'num_train_epochs': must be at most 1e6"),
      std::string::npos);
  EXPECT_NE(error_of_read("gradient_accumulation_steps = 3000000000\n").find("at most 2147483647"),
            std::string::npos);
  EXPECT_NE(error_of_read("adam_epsilon = 0\n").find("'adam_epsilon': must be > 0, got 0"),
            std::string::npos);
}

TEST(TrainingConfig, RejectsBadValuesAtTheirKey) {
  auto error = [](const std::string& toml) {
    try {
      TrainingConfig::read(Config::parse(toml, "p.toml"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error("lr_scheduler_type = \"cosin\"\n")
                .find("p.toml:1:21: 'lr_scheduler_type': unknown value \"cosin\""),
            std::string::npos)
      << error("lr_scheduler_type = \"cosin\"\n");
  EXPECT_NE(error("lr_scheduler_type = \"cosin\"\n").find("did you mean \"cosine\""),
            std::string::npos);
  EXPECT_NE(error("per_device_train_batch_size = 0\n").find("must be > 0"), std::string::npos);
  EXPECT_NE(
      error("max_length = 64\nmax_prompt_length = 64\n").find("must be smaller than max_length"),
      std::string::npos);
  EXPECT_NE(error("truncation_mode = \"middle\"\n").find("'truncation_mode'"), std::string::npos);
}

TEST(Trainer, CtrlCDuringAnEvaluationPassReportsNothing) {
  // Every evaluation pass asks for Ctrl-C between batches (rlhf/batch_pass.hpp): a stop
  // requested during the pass gives no metrics at all, never those of a partial pass.
  fs::path dir = fresh_dir("eval_stop");
  ToyTask t;
  MetricsSink sink(dir);
  StageContext ctx = context(dir, &sink);
  int asked = 0;
  ctx.stop_requested = [&asked] { return ++asked > 1; };  // after the first of 3 eval batches
  Trainer trainer(ctx, toy_config());
  int batches = 0;
  auto metrics = trainer.evaluate(
      t.task, [&](const std::vector<std::size_t>&, const StepOutput&) { ++batches; });
  EXPECT_FALSE(metrics.has_value());
  EXPECT_EQ(batches, 1);
  ctx.stop_requested = [] { return false; };
  auto full = trainer.evaluate(t.task);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->front().first, "eval_loss");
}
