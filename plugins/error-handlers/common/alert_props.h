#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "plugins/error-handlers/common/alert_sender.h"
#include "shardjob/spi/properties.h"

namespace shardjob::error_handlers {

// Reading an alerting handler's props out of the job's props. Every function throws
// std::invalid_argument with a message naming the prop: the kernel then refuses the job with it.

// A prop under `prefix` (e.g. "webhook.") that is not in `known` is a typo that would otherwise
// silently leave a setting at its default. Props outside the prefix belong to the executor or to
// listeners and are not looked at.
void RejectUnknownProps(const spi::Properties& props, const std::string& prefix,
                        const std::vector<std::string>& known);

// The value of `key`; missing or empty is an error.
std::string RequiredProp(const spi::Properties& props, const std::string& key);

std::int64_t IntProp(const spi::Properties& props, const std::string& key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max);

std::chrono::milliseconds MillisProp(const spi::Properties& props, const std::string& key,
                                     std::int64_t fallback, std::int64_t min, std::int64_t max);

bool BoolProp(const spi::Properties& props, const std::string& key, bool fallback);

// An http:// or https:// URL with a host, and no spaces or control characters.
void CheckHttpUrl(const std::string& key, const std::string& url);

// The names under which one handler reads the AlertSender's settings.
struct SenderPropNames {
  std::string queue_size;
  std::string max_attempts;
  std::string backoff;
  std::string shutdown_timeout;
};

SenderOptions ReadSenderOptions(const spi::Properties& props, const SenderPropNames& names);

}  // namespace shardjob::error_handlers
