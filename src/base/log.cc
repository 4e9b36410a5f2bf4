#include "base/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <vector>

namespace banger {

Status InitLogging(const std::string& level, const std::string& file, bool also_stderr) {
  auto lvl = spdlog::level::from_str(level.empty() ? "info" : level);
  if (lvl == spdlog::level::off && level != "off") {
    return Error::Invalid("log_level: unknown level \"" + level + "\" (use debug, info, warn, error)");
  }
  std::vector<spdlog::sink_ptr> sinks;
  try {
    if (!file.empty()) sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
  } catch (const spdlog::spdlog_ex& e) {
    return Error::Internal(std::string("opening log file: ") + e.what());
  }
  if (also_stderr || file.empty()) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("banger", sinks.begin(), sinks.end());
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  spdlog::set_default_logger(logger);
  return OkStatus();
}

}  // namespace banger
