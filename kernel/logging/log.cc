#include "logging/log.h"

#include <stdexcept>

namespace shardjob::logging {

void Configure(const std::string& level) {
  spdlog::level::level_enum parsed;
  if (level == "debug") {
    parsed = spdlog::level::debug;
  } else if (level == "info") {
    parsed = spdlog::level::info;
  } else if (level == "warn") {
    parsed = spdlog::level::warn;
  } else if (level == "error") {
    parsed = spdlog::level::err;
  } else {
    throw std::invalid_argument("unknown log level '" + level + "' (debug, info, warn, error)");
  }
  spdlog::set_level(parsed);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
}

void PluginLogger::Log(spi::LogLevel level, std::string_view message) {
  switch (level) {
    case spi::LogLevel::kDebug:
      spdlog::debug("{} {}", prefix_, message);
      break;
    case spi::LogLevel::kInfo:
      spdlog::info("{} {}", prefix_, message);
      break;
    case spi::LogLevel::kWarn:
      spdlog::warn("{} {}", prefix_, message);
      break;
    case spi::LogLevel::kError:
      spdlog::error("{} {}", prefix_, message);
      break;
  }
}

}  // namespace shardjob::logging
