#include "sharding-strategies/average/average_allocation_strategy.h"

#include <exception>

#include "sharding-strategies/common/average_allocation.h"

namespace shardjob::strategies {

spi::Status AverageAllocationStrategy::Shard(const spi::ShardingRequest& request,
                                             spi::ShardingPlan* plan) const noexcept {
  try {
    spi::Status status = ValidateShardingRequest(request);
    if (!status.ok()) return status;
    AllocateAverage(request.instances, request.sharding_total_count, plan);
    return spi::Status::Ok();
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("AVG_ALLOCATION: ") + e.what());
  }
}

}  // namespace shardjob::strategies
