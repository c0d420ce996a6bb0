// Out-of-line destructors: the key functions that pin each interface's vtable and type info to
// libshardjob_spi.so, so the kernel and every plugin share one copy.

#include "shardjob/spi/checkpoint.h"
#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/job.h"
#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/job_listener.h"
#include "shardjob/spi/job_object.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/shard_source.h"
#include "shardjob/spi/sharding_strategy.h"
#include "shardjob/spi/trace_history.h"
#include "shardjob/spi/tracer.h"

namespace shardjob::spi {

Checkpoint::~Checkpoint() = default;
ErrorHandler::~ErrorHandler() = default;
JobExecutor::~JobExecutor() = default;
JobListener::~JobListener() = default;
JobObject::~JobObject() = default;
Logger::~Logger() = default;
ShardSource::~ShardSource() = default;
ShardingStrategy::~ShardingStrategy() = default;
SimpleJob::~SimpleJob() = default;
TraceHistory::~TraceHistory() = default;
Tracer::~Tracer() = default;

}  // namespace shardjob::spi
