#pragma once

#include <string>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

struct JobError {
  std::string job_name;
  std::string fire_id;     // empty when the error is not about one fire
  int sharding_item = -1;  // -1 when the error is not about one shard
  std::string instance_id;
  std::string message;
};

// Told about every failed task and every error around a fire (a listener that failed, a clock
// check that failed). One object per job, built from the job's props; called from any thread.
//
// Returning a non-OK Status escalates, as ElasticJob's THROW does: the kernel abandons what is
// left of this fire on this instance (shards not yet started are recorded as failed).
class ErrorHandler {
 public:
  virtual ~ErrorHandler();
  virtual Status Handle(const JobError& error) noexcept = 0;
};

}  // namespace shardjob::spi
