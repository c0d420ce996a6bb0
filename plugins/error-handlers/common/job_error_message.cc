#include "plugins/error-handlers/common/job_error_message.h"

namespace shardjob::error_handlers {

std::string FormatJobError(const spi::JobError& error) {
  std::string text = "Job '" + error.job_name + "' failed (";
  if (!error.fire_id.empty()) text += "fire=" + error.fire_id + " ";
  if (error.sharding_item >= 0) text += "shard=" + std::to_string(error.sharding_item) + " ";
  text += "instance=" + error.instance_id + "): " + error.message;
  return text;
}

}  // namespace shardjob::error_handlers
