// The run's logger: spdlog to the console and to `<dir>/run.log`.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace rlhf {

// level: "trace" | "debug" | "info" | "warn" | "error" | "off"; an unknown name throws.
std::shared_ptr<spdlog::logger> make_console_logger(const std::string& level);
// Adds a file sink `<dir>/run.log` to `logger` (append mode).
void add_log_file(spdlog::logger& logger, const std::filesystem::path& dir);
// Writes `message` at error level to the logger's file sinks only (run.log), for the one line
// the host prints itself on stderr when a run fails: the log keeps it without the console
// showing it twice.
void log_error_to_file(spdlog::logger& logger, const std::string& message);

}  // namespace rlhf
