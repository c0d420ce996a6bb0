#pragma once

#include <chrono>

#include "shardjob/spi/job.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::examples {

// EXAMPLE_ORDER_SYNC: a SimpleJob to copy when writing your own. Each call handles one shard:
// it logs what it was given and then "works" for `example.work.ms` milliseconds (default 0), in
// slices, stopping early when the kernel raises the task's cancellation.
//
// The pattern to keep when copying:
//   - read and validate props in the constructor, throwing std::invalid_argument: the job then
//     fails to load with a message naming the prop, instead of failing at every fire;
//   - keep the Logger by reference (the kernel guarantees it outlives the job) and never write
//     to stdout yourself;
//   - Execute() runs concurrently for different shards of a fire, so the object must not change
//     after construction without a lock;
//   - do the work for context.sharding_item only (its parameter says which slice of the data),
//     and hand context.fencing_token to any store you write, so that a writer the kernel has
//     since replaced gets refused;
//   - check context.IsCancelled() between units of work and stop promptly.
class OrderSyncJob : public spi::SimpleJob {
 public:
  explicit OrderSyncJob(const spi::PluginContext& context);

  void Execute(const spi::ShardingContext& context) override;

 private:
  spi::Logger& logger_;
  std::chrono::milliseconds work_{0};
};

}  // namespace shardjob::examples
