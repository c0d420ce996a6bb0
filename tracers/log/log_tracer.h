#pragma once

#include <string>
#include <vector>

#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"
#include "shardjob/spi/tracer.h"

namespace shardjob::tracers {

// LOG: writes every trace event as one info line of key=value pairs, with ElasticJob's field
// names (JobExecutionEvent, JobStatusTraceEvent) followed by shardjob's own, e.g.
//
//   JobExecutionEvent id=... hostname=h1 ip=10.0.0.1 taskId=... jobName=orderJob
//   source=NORMAL_TRIGGER shardingItem=0 startTime=1700000000000 completeTime=null
//   success=false failureCause="" fireId=... instanceId=... fencingToken=7
//
// A value is quoted (with \" \\ \n \r \t escapes) when it is empty or holds a space, quote,
// '=' or control character, so that every line stays one line and splits unambiguously. Times
// are epoch milliseconds; a start event's completeTime is null, as ElasticJob's is.
class LogTracer : public spi::Tracer {
 public:
  explicit LogTracer(const spi::PluginContext& context) : logger_(context.logger) {}

  spi::Status Write(const std::vector<spi::TraceEvent>& events) noexcept override;

  static std::string Format(const spi::ExecutionEvent& event);
  static std::string Format(const spi::StatusEvent& event);

 private:
  // The kernel guarantees the logger outlives the tracer.
  spi::Logger& logger_;
};

}  // namespace shardjob::tracers
