#pragma once

#include "shardjob/spi/job_executor.h"

namespace shardjob::executors {

// SIMPLE: drives a user's SimpleJob, one shard per call, as ElasticJob's SimpleJobExecutor does.
// The user's exceptions are already turned into a Status inside the user's library (see
// spi::GuardedSimpleJob), so this only checks it was handed the right kind of object. Stateless,
// so thread-safe.
class SimpleExecutor : public spi::JobExecutor {
 public:
  const char* JobInterface() const override;
  spi::Status Execute(spi::JobObject* job, const spi::ShardingContext& context) noexcept override;
};

}  // namespace shardjob::executors
