#pragma once

#include "shardjob/spi/job_object.h"
#include "shardjob/spi/sharding_context.h"
#include "shardjob/spi/status.h"

namespace shardjob::spi {

// Runs the tasks of one job; one executor object is created per job, from the job's props.
//
// A Classed executor (SIMPLE, DATAFLOW) drives user code: JobInterface() names the interface it
// drives and Execute() receives the user's object. A Typed executor (SCRIPT, HTTP) needs no user
// code: JobInterface() is nullptr and Execute() receives nullptr.
//
// Execute() is called concurrently for different shards and must honour
// context.cancellation.
class JobExecutor {
 public:
  virtual ~JobExecutor();
  virtual const char* JobInterface() const = 0;
  virtual Status Execute(JobObject* job, const ShardingContext& context) noexcept = 0;
};

}  // namespace shardjob::spi
