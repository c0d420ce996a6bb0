#include "sharding-strategies/odevity/odevity_strategy.h"

#include <exception>
#include <string>
#include <vector>

#include "sharding-strategies/common/average_allocation.h"
#include "sharding-strategies/common/java_string_hash.h"

namespace shardjob::strategies {

spi::Status OdevityStrategy::Shard(const spi::ShardingRequest& request,
                                   spi::ShardingPlan* plan) const noexcept {
  try {
    spi::Status status = ValidateShardingRequest(request);
    if (!status.ok()) return status;
    // C++'s % truncates toward zero like Java's, so a negative odd hash gives -1: odd.
    if (JavaStringHash(request.job_name) % 2 == 0) {
      std::vector<std::string> reversed(request.instances.rbegin(), request.instances.rend());
      AllocateAverage(reversed, request.sharding_total_count, plan);
    } else {
      AllocateAverage(request.instances, request.sharding_total_count, plan);
    }
    return spi::Status::Ok();
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("ODEVITY: ") + e.what());
  }
}

}  // namespace shardjob::strategies
