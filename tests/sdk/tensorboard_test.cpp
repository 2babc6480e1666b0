// Reads TensorBoard event files back with an independent decoder (tests/common/event_file.hpp):
// record framing, masked CRC-32C of length and payload, the Event/Summary protobuf fields; and
// the per-stage runs with transformers' tag names a MetricsSink writes through TensorBoardRuns.
#include "rlhf/tensorboard.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <regex>

#include "event_file.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/tensorboard_runs.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using rlhf::test::find_field;
using rlhf::test::parse_message;
using rlhf::test::read_le;
using rlhf::test::reference_crc32c;
using rlhf::test::reference_masked;

TEST(Crc32c, MatchesTheStandardCheckValueAndAReferenceImplementation) {
  // CRC-32C check value from the iSCSI spec (RFC 3720 appendix B.4): "123456789".
  EXPECT_EQ(rlhf::crc32c("123456789", 9), 0xE3069283u);
  const std::string text = "brain.Event:2 and some more bytes \x01\x02\xff";
  EXPECT_EQ(rlhf::crc32c(text.data(), text.size()), reference_crc32c(text));
  EXPECT_EQ(rlhf::masked_crc32c(text.data(), text.size()), reference_masked(text));
}

TEST(TensorBoardWriter, WritesRecordsTensorBoardCanRead) {
  rlhf::test::TempDir dir;
  fs::path file;
  {
    rlhf::TensorBoardWriter writer(dir.path());
    file = writer.path();
    writer.add_scalar("train/loss", 0.6931, 1);
    writer.add_scalar("train/rewards/accuracies", 0.75, 1234567890123);
    writer.flush();
  }
  EXPECT_EQ(file.parent_path(), dir.path());
  // events.out.tfevents.<seconds>.<host>.<pid>
  EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u);
  const std::string suffix = "." + std::to_string(::getpid());
  EXPECT_EQ(file.filename().string().substr(file.filename().string().size() - suffix.size()),
            suffix);

  const auto records = rlhf::test::read_records(file);
  ASSERT_EQ(records.size(), 3u);
  auto first = parse_message(records[0]);
  ASSERT_NE(find_field(first, 3), nullptr);
  EXPECT_EQ(find_field(first, 3)->bytes, "brain.Event:2");
  ASSERT_NE(find_field(first, 1), nullptr);
  const double wall_time = read_le<double>(find_field(first, 1)->bytes, 0);
  EXPECT_GT(wall_time, 1.7e9);  // after 2023: a Unix time in seconds

  const auto scalars = rlhf::test::read_scalars(file);
  ASSERT_EQ(scalars.size(), 2u);
  EXPECT_EQ(scalars[0].tag, "train/loss");
  EXPECT_EQ(scalars[0].value, 0.6931f);
  EXPECT_EQ(scalars[0].step, 1);
  EXPECT_EQ(scalars[1].tag, "train/rewards/accuracies");
  EXPECT_EQ(scalars[1].value, 0.75f);
  EXPECT_EQ(scalars[1].step, 1234567890123);
}

TEST(TensorBoardRuns, TagsAreTransformersRewriteLogs) {
  EXPECT_EQ(rlhf::tensorboard_tag("loss"), "train/loss");
  EXPECT_EQ(rlhf::tensorboard_tag("rewards/chosen"), "train/rewards/chosen");
  EXPECT_EQ(rlhf::tensorboard_tag("eval_loss"), "eval/loss");
  EXPECT_EQ(rlhf::tensorboard_tag("eval_rewards/chosen"), "eval/rewards/chosen");
  EXPECT_EQ(rlhf::tensorboard_tag("test_loss"), "test/loss");
  EXPECT_EQ(rlhf::tensorboard_tag("evaluation"), "train/evaluation");  // no "eval_" prefix
}

TEST(TensorBoardRuns, RunNameIsTransformersDefaultLogdir) {
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  // 2024-03-05 07:08:09 UTC; strftime("%b%d_%H-%M-%S") + "_" + hostname.
  EXPECT_EQ(rlhf::tensorboard_run_name(1709622489, "box"), "Mar05_07-08-09_box");
  EXPECT_EQ(rlhf::tensorboard_run_name(0, "h"), "Jan01_00-00-00_h");
  if (old_tz)
    ::setenv("TZ", saved.c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
}

TEST(TensorBoardRuns, OneRunPerStageUnderItsFolderWithTrainerTags) {
  rlhf::test::TempDir dir;
  {
    rlhf::MetricsSink sink(dir.path());
    auto runs = std::make_unique<rlhf::TensorBoardRuns>(dir.path());
    rlhf::TensorBoardRuns* view = runs.get();
    sink.add_writer(std::move(runs));
    sink.log("sft", 1, 0.5, {{"loss", 2.0}, {"grad_norm", 0.25}, {"learning_rate", 1e-3}});
    sink.log("sft", 2, 1.0, {{"eval_loss", 1.5}});
    sink.log("dpo", 2, 0.25, {{"loss", 0.69}, {"rewards/chosen", 0.1}});
    sink.log("dpo", 4, 0.5, {{"eval_loss", 0.6}, {"eval_rewards/chosen", -0.5}});
    EXPECT_EQ(view->event_file("sft").parent_path().parent_path(), dir.path() / "sft" / "runs");
    EXPECT_EQ(view->event_file("dpo").parent_path().parent_path(), dir.path() / "dpo" / "runs");
    EXPECT_TRUE(view->event_file("orpo").empty());
  }
  // metrics.jsonl keeps the names as logged.
  std::ifstream in(dir.path() / "metrics.jsonl");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(
      first,
      R"({"stage":"sft","step":1,"epoch":0.5,"loss":2.0,"grad_norm":0.25,"learning_rate":0.001})");

  const std::regex run_name(R"([A-Z][a-z]{2}\d\d_\d\d-\d\d-\d\d_.+)");
  for (const char* stage : {"sft", "dpo"}) {
    const auto files = rlhf::test::event_files(dir.path() / stage);
    ASSERT_EQ(files.size(), 1u) << stage;
    EXPECT_EQ(files[0].parent_path().parent_path(), dir.path() / stage / "runs");
    EXPECT_TRUE(std::regex_match(files[0].parent_path().filename().string(), run_name)) << files[0];
  }
  struct Expected {
    const char* tag;
    float value;
    std::int64_t step;
  };
  auto check = [&](const char* stage, const std::vector<Expected>& expected) {
    const auto scalars = rlhf::test::read_scalars(rlhf::test::event_files(dir.path() / stage)[0]);
    ASSERT_EQ(scalars.size(), expected.size()) << stage;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(scalars[i].tag, expected[i].tag) << stage << " " << i;
      EXPECT_EQ(scalars[i].value, expected[i].value) << stage << " " << i;
      EXPECT_EQ(scalars[i].step, expected[i].step) << stage << " " << i;
    }
  };
  check("sft", {{"train/loss", 2.0f, 1},
                {"train/grad_norm", 0.25f, 1},
                {"train/learning_rate", 1e-3f, 1},
                {"train/epoch", 0.5f, 1},
                {"eval/loss", 1.5f, 2},
                {"train/epoch", 1.0f, 2}});
  check("dpo", {{"train/loss", 0.69f, 2},
                {"train/rewards/chosen", 0.1f, 2},
                {"train/epoch", 0.25f, 2},
                {"eval/loss", 0.6f, 4},
                {"eval/rewards/chosen", -0.5f, 4},
                {"train/epoch", 0.5f, 4}});
  EXPECT_EQ(rlhf::test::event_files(dir.path()).size(), 2u);  // none in the run folder itself
}
