#pragma once

// The kernel's logging: spdlog, one process-wide logger. Plugins never see spdlog; they get a
// PluginLogger, which writes through it with the plugin's type name as a prefix.

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "shardjob/spi/logger.h"

namespace shardjob::logging {

// Sets the level ("debug", "info", "warn", "error") and the line pattern. Throws
// std::invalid_argument for an unknown level.
void Configure(const std::string& level);

class PluginLogger : public spi::Logger {
 public:
  // `prefix` starts every line, e.g. "[SCRIPT job=order-sync]".
  explicit PluginLogger(std::string prefix) : prefix_(std::move(prefix)) {}
  void Log(spi::LogLevel level, std::string_view message) override;

 private:
  std::string prefix_;
};

}  // namespace shardjob::logging
