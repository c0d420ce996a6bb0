#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "plugins/error-handlers/common/alert_channel.h"

namespace shardjob::error_handlers {

// "2023-11-14T22:13:20.123Z": ISO-8601 in UTC with milliseconds.
std::string FormatIsoUtc(std::chrono::system_clock::time_point time);

std::int64_t EpochMillis(std::chrono::system_clock::time_point time);

// "fire=<fire> shard=<item>" for log lines about an alert; the job is in the logger's prefix.
// Leaves out the fire when empty and the shard when negative.
std::string AlertLabel(const spi::JobError& error);

// The text the chat robots and the mail carry. Its first line is ElasticJob's, "Job '<job>'
// exception occur in job processing, caused by <message>", so that filters written for
// ElasticJob's alerts still match; a second line adds what ElasticJob's lacks:
// "fire: <fire>, shard: <item>, instance: <instance>, time: <ISO-8601 UTC>" (fire and shard
// left out when the error is not about one).
std::string AlertText(const Alert& alert);

}  // namespace shardjob::error_handlers
