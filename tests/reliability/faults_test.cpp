// Faults during a run (docs/reliability.md, families "signals", "atomic writes + cleanup" and
// "disk full"), through the rlhf-host binary: Ctrl-C once and twice, SIGKILL in the middle of a
// checkpoint or result write, and a full disk (a small tmpfs; root only).
//
// To hit the middle of a write without timing, the test watches the stage folder with inotify
// and stops the process (SIGSTOP) the moment the temporary name appears; what is on disk is then
// frozen and checked before the fault is delivered.
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>

#include <functional>

#include "reliability_util.hpp"

using namespace rlhf::reliability;

namespace {

// The state letter of /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z' ended), or 0 when gone.
char process_state(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? 0 : stat[close + 2];
}

bool ended(const HostProcess& process) {
  const char state = process_state(process.pid());
  return state == 0 || state == 'Z';
}

// Sends SIGSTOP and waits until the process is stopped (kill() returns before it is).
void stop(HostProcess& process) {
  process.send(SIGSTOP);
  while (process_state(process.pid()) != 'T' && !ended(process))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// Waits until the run has logged a metrics line (it is training); false when it ended first.
bool wait_for_metrics(const HostProcess& process, const fs::path& metrics, double seconds = 120) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < until && !ended(process)) {
    if (fs::file_size(metrics, ec) > 0 && !ec) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Stops `process` (SIGSTOP) as soon as an entry whose name satisfies `match` is created in
// `dir` (which must exist), and returns that name; "" when the process ended or `seconds` ran
// out first.
std::string stop_when_created(HostProcess& process, const fs::path& dir,
                              const std::function<bool(const std::string&)>& match,
                              double seconds = 120) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return "";
  ::inotify_add_watch(fd, dir.c_str(), IN_CREATE | IN_MOVED_TO);
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::string found;
  alignas(inotify_event) char buffer[8192];
  while (found.empty() && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      if (ended(process)) break;
      continue;
    }
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    for (ssize_t at = 0; at < n && found.empty();) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if (event->len > 0 && match(event->name)) {
        stop(process);
        found = event->name;
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  ::close(fd);
  return found;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Names under `dir` that are temporary (interrupted writes), joined by spaces.
std::string temporary_names(const fs::path& dir) {
  std::string out;
  for (const auto& p : tree(dir))
    if (p.find(".tmp") != std::string::npos || p.find(".rlhf-old") != std::string::npos ||
        p.find(".rlhf-deleting") != std::string::npos)
      out += (out.empty() ? "" : " ") + p;
  return out;
}

// Every checkpoint-<step> folder under the real name is complete.
void expect_complete_checkpoints(const fs::path& stage_dir) {
  for (const auto& entry : fs::directory_iterator(stage_dir)) {
    const std::string name = entry.path().filename();
    if (!starts_with(name, "checkpoint-") || name.find('.') != std::string::npos) continue;
    for (const char* file : {"trainer_state.json", "trainable.pt", "optimizer.pt", "rng.pt"})
      EXPECT_TRUE(fs::exists(entry.path() / file)) << name << " lacks " << file;
  }
}

// Training stage that runs long enough to be interrupted: a metrics line every step.
std::string long_stage(int steps, int save_steps) {
  return sft_stage(sft_data().string(), steps) +
         "\nlogging_steps = 1\nsave_steps = " + std::to_string(save_steps);
}

}  // namespace

// ---- signals --------------------------------------------------------------------------------

TEST(Signals, FirstSigintFinishesTheStepSavesAndExits130) {
  TempDir dir;
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), long_stage(300, 0));
  HostProcess run({pipeline.string()}, dir.path());
  ASSERT_TRUE(wait_for_metrics(run, dir / "run/metrics.jsonl")) << run.output_so_far();
  run.send(SIGINT);
  const auto r = run.wait();
  ASSERT_EQ(r.exit_code, 130) << r.describe();
  EXPECT_NE(r.output.find("rerun with --resume"), std::string::npos) << r.output;
  std::vector<std::string> checkpoints;
  for (const auto& entry : fs::directory_iterator(dir / "run/sft"))
    if (starts_with(entry.path().filename(), "checkpoint-"))
      checkpoints.push_back(entry.path().filename());
  ASSERT_EQ(checkpoints.size(), 1u) << "the stop saves one checkpoint";
  expect_complete_checkpoints(dir / "run/sft");
  EXPECT_FALSE(fs::exists(dir / "run/sft/model"));
  EXPECT_FALSE(fs::exists(dir / "run/sft/stage_complete.json"));

  auto resumed = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_NE(resumed.output.find("resumed from " + (dir / "run/sft" / checkpoints[0]).string()),
            std::string::npos)
      << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors"));
}

TEST(Signals, SecondSigintDuringTheSaveLeavesOnlyTemporaryNames) {
  TempDir dir;
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), long_stage(300, 0));
  fs::create_directories(dir / "run/sft");  // watched before the run starts
  HostProcess run({pipeline.string()}, dir.path());
  ASSERT_TRUE(wait_for_metrics(run, dir / "run/metrics.jsonl")) << run.output_so_far();
  run.send(SIGINT);  // first: finish the step, save a checkpoint
  const std::string name = stop_when_created(run, dir / "run/sft", [](const std::string& n) {
    return starts_with(n, "checkpoint-") && ends_with(n, ".tmp");
  });
  ASSERT_FALSE(name.empty()) << "no checkpoint was started:\n" << run.output_so_far();
  // Stopped while the checkpoint is written (unless this machine was slower than the write).
  const bool caught = fs::exists(dir / "run/sft" / name);
  RecordProperty("caught_mid_write", caught ? "yes" : "no");
  run.send(SIGINT);  // second: kills (delivered when the process continues)
  run.send(SIGCONT);
  const auto r = run.wait();
  EXPECT_EQ(r.signal, SIGINT) << r.describe();
  if (caught) {
    EXPECT_TRUE(fs::exists(dir / "run/sft" / name));
    EXPECT_FALSE(fs::exists(dir / "run/sft" / name.substr(0, name.size() - 4)))
        << "a half checkpoint under its real name";
  }
  expect_complete_checkpoints(dir / "run/sft");
  EXPECT_FALSE(fs::exists(dir / "run/sft/model"));

  auto resumed = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_EQ(temporary_names(dir / "run"), "");
  EXPECT_TRUE(fs::exists(dir / "run/sft/stage_complete.json"));
}

// ---- atomic writes under SIGKILL ------------------------------------------------------------

TEST(AtomicWrites, SigkillDuringACheckpointWriteResumesFromTheLastCompleteOne) {
  TempDir dir;
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), long_stage(12, 1));
  fs::create_directories(dir / "run/sft");
  HostProcess run({pipeline.string()}, dir.path());
  // The first checkpoint after checkpoint-1 whose temporary folder is caught still being written.
  std::string caught;
  for (int attempt = 0; attempt < 10 && caught.empty(); ++attempt) {
    const std::string name = stop_when_created(run, dir / "run/sft", [](const std::string& n) {
      return starts_with(n, "checkpoint-") && ends_with(n, ".tmp") && n != "checkpoint-1.tmp";
    });
    ASSERT_FALSE(name.empty()) << "ended before a checkpoint was caught:\n" << run.output_so_far();
    if (fs::exists(dir / "run/sft" / name))
      caught = name;
    else
      run.send(SIGCONT);  // already renamed or complete: catch the next one
  }
  ASSERT_FALSE(caught.empty());
  run.send(SIGKILL);
  EXPECT_EQ(run.wait().signal, SIGKILL);
  const int step = std::stoi(caught.substr(11, caught.size() - 15));
  const std::string last = "checkpoint-" + std::to_string(step - 1);
  EXPECT_FALSE(fs::exists(dir / "run/sft" / caught.substr(0, caught.size() - 4)));
  expect_complete_checkpoints(dir / "run/sft");

  auto resumed = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_NE(resumed.output.find("resumed from " + (dir / "run/sft" / last).string()),
            std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("removed " + (dir / "run/sft" / caught).string()),
            std::string::npos)
      << resumed.output;
  EXPECT_EQ(temporary_names(dir / "run"), "");
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors"));
}

TEST(AtomicWrites, SigkillWhileSavingTheResultLeavesNoHalfModel) {
  TempDir dir;
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), long_stage(3, 1));
  fs::create_directories(dir / "run/sft");
  HostProcess run({pipeline.string()}, dir.path());
  const std::string name = stop_when_created(
      run, dir / "run/sft", [](const std::string& n) { return starts_with(n, "model.tmp"); });
  ASSERT_FALSE(name.empty()) << run.output_so_far();
  const bool caught = !fs::exists(dir / "run/sft/model");
  RecordProperty("caught_mid_write", caught ? "yes" : "no");
  run.send(SIGKILL);
  EXPECT_EQ(run.wait().signal, SIGKILL);
  if (caught) {
    EXPECT_FALSE(fs::exists(dir / "run/sft/model")) << "a half model under the real name";
    EXPECT_FALSE(fs::exists(dir / "run/sft/stage_complete.json"));
  } else {
    EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors")) << "a half model";
  }

  auto resumed = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_EQ(temporary_names(dir / "run"), "") << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/config.json"));
  EXPECT_TRUE(fs::exists(dir / "run/sft/stage_complete.json"));
}

// Replacing a model folder (init-model --force) is one swap: a kill before it keeps the old one.
TEST(AtomicWrites, SigkillDuringInitModelForceKeepsThePreviousModel) {
  TempDir dir;
  fs::create_directories(dir / "m");
  fs::copy(tiny_model(), dir / "m", fs::copy_options::recursive);
  const auto before = tree(dir / "m");
  const std::string weights = read_file(dir / "m/model.safetensors");
  HostProcess run({"init-model", "--out", (dir / "m").string() + "/", "--force", "--corpus",
                   (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size", "400",
                   "--hidden-size", "32", "--intermediate-size", "64", "--seed", "9"},
                  dir.path());
  const std::string name = stop_when_created(
      run, dir.path(), [](const std::string& n) { return starts_with(n, "m.tmp-"); });
  ASSERT_FALSE(name.empty()) << run.output_so_far();
  run.send(SIGKILL);
  EXPECT_EQ(run.wait().signal, SIGKILL);
  EXPECT_EQ(tree(dir / "m"), before);
  EXPECT_EQ(read_file(dir / "m/model.safetensors"), weights);
  // The next write to the same --out removes the dead process's temporary folder.
  auto again = run_host({"init-model", "--out", (dir / "m").string(), "--force", "--corpus",
                         (kSource / "examples/data/polite_corpus.txt").string(), "--vocab-size",
                         "400", "--hidden-size", "32", "--intermediate-size", "64"},
                        dir.path(), 120);
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_FALSE(fs::exists(dir / name));
  EXPECT_NE(again.output.find("removed " + (dir / name).string()), std::string::npos)
      << again.output;
}

// ---- disk full ------------------------------------------------------------------------------

namespace {

// A tmpfs of `bytes` at `dir`, unmounted on destruction. mounted() is false when this process
// may not mount (not root, or a container without CAP_SYS_ADMIN).
class SmallDisk {
 public:
  SmallDisk(const fs::path& dir, std::uintmax_t bytes) : dir_(dir) {
    fs::create_directories(dir_);
    if (::geteuid() != 0) return;
    const std::string options = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

std::uintmax_t tiny_weights_bytes() { return fs::file_size(tiny_model() / "model.safetensors"); }

// The pipeline with output_dir on the small disk at dir/disk.
fs::path pipeline_on_disk(const TempDir& dir, const std::string& stage) {
  const fs::path pipeline = write_pipeline(dir.path(), tiny_model(), stage);
  std::string text = read_file(pipeline);
  const std::string from = (dir / "run").string();
  text.replace(text.find(from), from.size(), (dir / "disk/run").string());
  write_file(pipeline, text);
  return pipeline;
}

}  // namespace

TEST(DiskFull, CheckpointWriteSaysNoSpaceNamingTheFile) {
  TempDir dir;
  // Room for the logs and one copy of the weights, not for weights + AdamW state.
  SmallDisk disk(dir / "disk", tiny_weights_bytes() + (256 << 10));
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a tmpfs";
  const fs::path pipeline = pipeline_on_disk(dir, long_stage(2, 1));
  auto r = run_host({pipeline.string()}, dir.path());
  expect_error(r, {"No space left on device", (dir / "disk/run/sft/checkpoint-1.tmp/").string()});
  EXPECT_FALSE(fs::exists(dir / "disk/run/sft/checkpoint-1"));
  EXPECT_FALSE(fs::exists(dir / "disk/run/sft/checkpoint-1.tmp")) << "its space was not freed";
  EXPECT_FALSE(fs::exists(dir / "disk/run/sft/model"));
  EXPECT_NE(read_file(dir / "disk/run/run.log").find("No space left on device"), std::string::npos);
}

TEST(DiskFull, ResultWriteSaysNoSpaceNamingTheFile) {
  TempDir dir;
  SmallDisk disk(dir / "disk", tiny_weights_bytes() / 2);
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a tmpfs";
  const fs::path pipeline = pipeline_on_disk(dir, long_stage(2, 0));
  auto r = run_host({pipeline.string()}, dir.path());
  expect_error(r, {"No space left on device", "model.safetensors",
                   (dir / "disk/run/sft/model.tmp").string()});
  EXPECT_FALSE(fs::exists(dir / "disk/run/sft/model"));
  EXPECT_FALSE(fs::exists(dir / "disk/run/sft/stage_complete.json"));
  EXPECT_EQ(temporary_names(dir / "disk/run"), "") << "its space was not freed";
}

TEST(DiskFull, ResumeOnAFreedDiskContinues) {
  TempDir dir;
  SmallDisk disk(dir / "disk", tiny_weights_bytes() / 2);
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a tmpfs";
  const fs::path pipeline = pipeline_on_disk(dir, long_stage(2, 0));
  expect_error(run_host({pipeline.string()}, dir.path()), {"No space left on device"});
  // Move the run to a disk with room (the user freed space): --resume finishes it.
  fs::copy(dir / "disk/run", dir / "run", fs::copy_options::recursive);
  std::string text = read_file(pipeline);
  const std::string from = (dir / "disk/run").string();
  text.replace(text.find(from), from.size(), (dir / "run").string());
  write_file(pipeline, text);
  auto r = run_host({pipeline.string(), "--resume"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(fs::exists(dir / "run/sft/model/model.safetensors"));
}
