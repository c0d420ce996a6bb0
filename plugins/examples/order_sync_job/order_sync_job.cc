#include "order_sync_job.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

namespace shardjob::examples {
namespace {

constexpr const char* kWorkProp = "example.work.ms";
// Short enough that a cancelled task stops within a fraction of a second.
constexpr std::chrono::milliseconds kSlice{100};

}  // namespace

OrderSyncJob::OrderSyncJob(const spi::PluginContext& context) : logger_(context.logger) {
  std::int64_t work_ms = 0;
  spi::Status status = context.props.GetInt(kWorkProp, 0, 0, 24LL * 3600 * 1000, &work_ms);
  if (!status.ok()) throw std::invalid_argument(status.message());
  work_ = std::chrono::milliseconds(work_ms);
}

void OrderSyncJob::Execute(const spi::ShardingContext& context) {
  logger_.Log(spi::LogLevel::kInfo, "job=" + context.job_name + " fire=" + context.fire_id +
                                        " shard=" + std::to_string(context.sharding_item) + "/" +
                                        std::to_string(context.sharding_total_count) +
                                        " parameter=" + context.sharding_parameter.value_or("") +
                                        " token=" + std::to_string(context.fencing_token));

  // Real work would go here, one unit (a batch of orders) per slice.
  std::chrono::milliseconds done{0};
  while (done < work_) {
    const std::chrono::milliseconds slice = std::min(kSlice, work_ - done);
    if (context.cancellation == nullptr) {
      std::this_thread::sleep_for(slice);
    } else if (context.cancellation->WaitFor(slice)) {
      // Throwing rather than returning: the shard's work is unfinished, and returning normally
      // would record it as a success.
      throw std::runtime_error("cancelled after " + std::to_string(done.count()) + " of " +
                               std::to_string(work_.count()) + " ms of work");
    }
    done += slice;
  }
}

}  // namespace shardjob::examples
