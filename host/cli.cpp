#include "cli.hpp"

#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "local_launcher.hpp"
#include "pipeline.hpp"
#include "pipeline_check.hpp"
#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "rlhf/config.hpp"
#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/logging.hpp"
#include "rlhf/version.hpp"
#include "stage_runner.hpp"
#include "stop_signal.hpp"
#include "subcommand.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace rlhf::host {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitStopped = 130;

void print_usage(std::ostream& out, const po::options_description& options) {
  out << "Usage: rlhf-host PIPELINE.toml [options]     run a pipeline\n"
         "       rlhf-host --check PIPELINE.toml       validate a pipeline, run nothing\n"
         "       rlhf-host --list-plugins              list the plugins found\n"
         "       rlhf-host <subcommand> [args]         run a tool (<subcommand> --help)\n\n"
      << options << "\nSubcommands:\n";
  for (const auto& [name, sub] : subcommands())
    out << "  " << std::left << std::setw(16) << name << sub.summary << "\n";
  if (subcommands().empty()) out << "  (none built)\n";
}

void print_plugin_table(std::ostream& out, const PluginRegistry& registry,
                        const std::vector<fs::path>& dirs) {
  std::vector<std::array<std::string, 5>> rows{{"KIND", "NAME", "VERSION", "ABI", "FILE"}};
  for (const auto& p : registry.plugins())
    rows.push_back({to_string(p.kind), p.name, p.version,
                    p.abi_ok ? "ok"
                    : p.abi_tag != sdk_abi_tag()
                        ? "MISMATCH (" + p.abi_tag + ")"
                        : "MISMATCH (ABI " + std::to_string(RLHF_SDK_ABI_VERSION) + "." +
                              std::to_string(p.abi_minor) + ")",
                    p.file.string()});
  std::array<std::size_t, 5> width{};
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    for (std::size_t c = 0; c + 1 < row.size(); ++c)
      out << std::left << std::setw(static_cast<int>(width[c] + 2)) << row[c];
    out << row.back() << "\n";
  }
  out << registry.plugins().size() << " plugins; searched:";
  for (const auto& d : dirs) out << " " << d.string();
  out << "\n";
}

// The command line a rank of `--nproc` runs: this one without --nproc.
std::vector<std::string> without_nproc(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--nproc") {
      ++i;
      continue;
    }
    if (arg.rfind("--nproc=", 0) == 0) continue;
    out.push_back(arg);
  }
  return out;
}

// Data parallel under torchrun's environment: rank 0 logs as always; the others print warnings
// and errors only, marked with their rank (rank 0 alone writes run.log).
void join_process_group(const DistributedEnv& env, const Pipeline& pipeline,
                        spdlog::logger& logger) {
  if (env.rank != 0) {
    logger.set_pattern("%^[%H:%M:%S %l]%$ [rank " + std::to_string(env.rank) + "] %v");
    if (logger.level() < spdlog::level::warn) logger.set_level(spdlog::level::warn);
  }
  Distributed& dist = Distributed::get();
  dist.start(env, std::chrono::seconds(pipeline.dist_timeout_s), pipeline.device);
  dist.set_bucket_bytes(
      static_cast<std::int64_t>(std::llround(pipeline.dist_bucket_mb * (1 << 20))));
}

int run_subcommand(const Subcommand& sub, int argc, char** argv) {
  std::vector<std::string> args(argv + 2, argv + argc);
  return sub.run(args);
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (argc >= 2) {
      auto it = subcommands().find(argv[1]);
      if (it != subcommands().end()) return run_subcommand(it->second, argc, argv);
      // `rlhf-host init-modle …` is a mistyped subcommand, not a pipeline file.
      const std::string first = argv[1];
      if (first.rfind("-", 0) != 0 && fs::path(first).extension() != ".toml" &&
          !fs::exists(first)) {
        std::vector<std::string> names;
        for (const auto& entry : subcommands()) names.push_back(entry.first);
        if (auto close = closest_match(first, names); !close.empty())
          throw Error("unknown subcommand '" + first + "' (did you mean '" + close + "'?)");
      }
    }

    std::string pipeline_file, log_level;
    int nproc = 1;
    std::vector<std::string> sets, plugin_paths;
    po::options_description options("Options");
    options.add_options()("help,h", "show this help")("version", "print the version and ABI tag")(
        "check", "validate the pipeline (plugins, keys, types, files) and run nothing")(
        "list-plugins", "list discovered plugins: kind, name, version, ABI status, file")(
        "set", po::value(&sets)->composing(),
        "override a pipeline value, typed like the one it replaces (repeatable): "
        "run.seed=7, adapter.r=8, stage.dpo.beta=0.2")(
        "plugin-path", po::value(&plugin_paths)->composing(),
        "also search DIR for plugins (repeatable; before RLHF_PLUGIN_PATH and the default folder)")(
        "log-level", po::value(&log_level)->default_value("info"),
        "trace, debug, info, warn, error or off")(
        "resume",
        "continue a previous run in output_dir: each stage from the newest checkpoint in its "
        "folder, if its model, adapter, data and keys are unchanged")(
        "overwrite",
        "replace the results of a previous run in output_dir (its run.log, metrics, TensorBoard "
        "events, pipeline.toml and stage folders; other files are kept)")(
        "nproc", po::value(&nproc)->default_value(1),
        "train data-parallel on N ranks of this machine (each gets RANK, WORLD_SIZE, ... as from "
        "torchrun; run.threads is split between them)");
    po::options_description hidden;
    hidden.add_options()("pipeline", po::value(&pipeline_file));
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("pipeline", 1);
    po::variables_map vm;
    try {
      po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
      po::notify(vm);
    } catch (const po::error& e) {
      std::cerr << "rlhf-host: error: " << e.what() << " (see rlhf-host --help)\n";
      return kExitUsage;
    }
    if (vm.count("help")) {
      print_usage(std::cout, options);
      return 0;
    }
    if (vm.count("version")) {
      std::cout << "rlhf-host " << RLHF_SDK_VERSION << " (ABI " << sdk_abi_tag() << ")\n";
      return 0;
    }
    logger = make_console_logger(log_level);
    std::vector<fs::path> cli_dirs(plugin_paths.begin(), plugin_paths.end());
    const auto dirs = plugin_search_path(cli_dirs);

    if (vm.count("list-plugins")) {
      PluginRegistry registry(dirs, logger);
      print_plugin_table(std::cout, registry, dirs);
      return 0;
    }
    if (vm.count("resume") && vm.count("overwrite")) {
      std::cerr << "rlhf-host: error: --resume and --overwrite contradict each other: choose one "
                   "(see rlhf-host --help)\n";
      return kExitUsage;
    }
    if (nproc < 1) {
      std::cerr << "rlhf-host: error: --nproc must be at least 1, got " << nproc
                << " (see rlhf-host --help)\n";
      return kExitUsage;
    }
    if (pipeline_file.empty()) {
      std::cerr << "rlhf-host: error: no pipeline file given (see rlhf-host --help)\n";
      return kExitUsage;
    }

    const auto started = std::chrono::steady_clock::now();
    PluginRegistry registry(dirs, logger);
    Pipeline pipeline = load_pipeline(pipeline_file, sets, registry);
    if (vm.count("check")) {
      check_pipeline(pipeline, logger);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count();
      std::cout << pipeline_file << ": ok (" << pipeline.stages.size() << " stages, "
                << registry.plugins().size() << " plugins found, checked in "
                << static_cast<int>(ms) << " ms)\n";
      return 0;
    }
    const DistributedEnv env = DistributedEnv::from_environment();
    if (nproc > 1) {
      if (env.world_size > 1)
        throw UsageError("--nproc " + std::to_string(nproc) + " in a process started as rank " +
                         std::to_string(env.rank) +
                         " of WORLD_SIZE=" + std::to_string(env.world_size) +
                         ": use one launcher (--nproc, or torchrun's environment), not both");
      return launch_local_ranks(nproc, without_nproc(argc, argv),
                                std::chrono::seconds(pipeline.dist_timeout_s), *logger);
    }
    if (env.world_size > 1) join_process_group(env, pipeline, *logger);
    install_stop_handlers();
    RunOptions run_options;
    run_options.resume = vm.count("resume") > 0;
    run_options.overwrite = vm.count("overwrite") > 0;
    for (int i = 0; i < argc; ++i) run_options.command += (i ? " " : "") + std::string(argv[i]);
    run_options.stop_requested = stop_requested;
    if (run_pipeline(pipeline, logger, run_options) == RunResult::stopped) {
      logger->warn("stopped by signal; rerun with --resume to continue");
      return kExitStopped;
    }
    logger->info("pipeline finished; outputs in {}", pipeline.output_dir.string());
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "rlhf-host: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    // rlhf::Error is one line by contract; anything else (a LibTorch c10::Error has a
    // backtrace) is cut to its first line.
    std::string message = e.what();
    if (!dynamic_cast<const Error*>(&e)) message = message.substr(0, message.find('\n'));
    Distributed& dist = Distributed::get();
    if (dist.active() && !dynamic_cast<const DistributedFailure*>(&e)) {
      // The other ranks name this one with this message (a DistributedFailure names the rank
      // that started it, and is not passed on).
      dist.report_failure(message);
      message = "rank " + std::to_string(dist.rank()) + ": " + message;
    }
    if (logger) {
      logger->flush();
      log_error_to_file(*logger, "rlhf-host: error: " + message);
    }
    std::cerr << "rlhf-host: error: " << message << "\n";
    return kExitError;
  }
}

}  // namespace rlhf::host
