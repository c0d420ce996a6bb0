#pragma once

// A job's config as it is stored in the registry (`/jobs/<job>/config`): one JSON object with the
// YAML keys. Reading it back goes through the YAML loader, so a config written by hand or by an
// API client gets exactly the checks a config file gets.

#include <string>

#include "config/config.h"

namespace shardjob::config {

// The job's keys and values, as a JSON object. Every `$` is doubled, so that reading it back
// does not expand anything again.
std::string JobConfigToJson(const JobConfig& job);

// Throws ConfigError naming `origin` (say, the registry path) and the offending key.
JobConfig JobConfigFromJson(const std::string& json, const std::string& origin);

}  // namespace shardjob::config
