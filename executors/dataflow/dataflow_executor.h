#pragma once

#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::executors {

// DATAFLOW: drives a user's DataflowJob, as ElasticJob's DataflowJobExecutor does. Per task it
// fetches a batch and processes it; with `streaming.process: true` it goes on fetching and
// processing until a fetch comes back empty. A streaming task also ends after its current round
// when the task is cancelled (shutdown, lost claim, timeout) or its shard is assigned to another
// instance (ElasticJob stops when a reshard is pending). Every fetched item is reported to the
// kernel, which counts it in metrics and traces. Thread-safe: the props are read once.
class DataflowExecutor : public spi::JobExecutor {
 public:
  // Throws std::invalid_argument for a `streaming.process` that is not true or false.
  explicit DataflowExecutor(const spi::PluginContext& context);

  const char* JobInterface() const override;
  spi::Status Execute(spi::JobObject* job, const spi::ShardingContext& context) noexcept override;

 private:
  bool streaming_ = false;
};

}  // namespace shardjob::executors
