#pragma once

#include <string_view>

namespace shardjob::spi {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Where a plugin writes its log lines. The kernel implements it (plugins never link a logging
// library), prefixes the plugin's type name, and may be called from any thread.
class Logger {
 public:
  virtual ~Logger();
  virtual void Log(LogLevel level, std::string_view message) = 0;
};

}  // namespace shardjob::spi
