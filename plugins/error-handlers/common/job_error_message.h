#pragma once

#include <string>

#include "shardjob/spi/error_handler.h"

namespace shardjob::error_handlers {

// "Job '<job>' failed (fire=<fire> shard=<item> instance=<instance>): <message>", leaving out the
// fire when empty and the shard when negative, i.e. when the error is not about one of them.
// ElasticJob's LOG handler writes "Job '<job>' exception occur in job processing"; the wording
// keeps the job first so that existing log searches still find it.
std::string FormatJobError(const spi::JobError& error);

}  // namespace shardjob::error_handlers
