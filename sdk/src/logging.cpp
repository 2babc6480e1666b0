#include "rlhf/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "rlhf/error.hpp"

namespace rlhf {

std::shared_ptr<spdlog::logger> make_console_logger(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw Error("unknown log level '" + level + "' (known: trace, debug, info, warn, error, off)");
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("rlhf", sink);
  logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  logger->set_level(lvl);
  return logger;
}

void add_log_file(spdlog::logger& logger, const std::filesystem::path& dir) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>((dir / "run.log").string());
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e %l] %v");
  logger.sinks().push_back(sink);
  logger.flush_on(spdlog::level::info);
}

void log_error_to_file(spdlog::logger& logger, const std::string& message) {
  for (const auto& sink : logger.sinks()) {
    if (!std::dynamic_pointer_cast<spdlog::sinks::basic_file_sink_mt>(sink)) continue;
    sink->log(spdlog::details::log_msg(logger.name(), spdlog::level::err, message));
    sink->flush();
  }
}

}  // namespace rlhf
