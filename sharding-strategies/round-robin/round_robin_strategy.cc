#include "sharding-strategies/round-robin/round_robin_strategy.h"

#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "sharding-strategies/common/average_allocation.h"
#include "sharding-strategies/common/java_string_hash.h"

namespace shardjob::strategies {

int RoundRobinOffset(std::int32_t job_name_hash, int instance_count) {
  // In 64 bits the absolute value of INT32_MIN is representable; see the header for why that,
  // rather than Java's negative Math.abs(MIN_VALUE), is the rule.
  const std::int64_t magnitude = std::llabs(static_cast<std::int64_t>(job_name_hash));
  return static_cast<int>(magnitude % instance_count);
}

spi::Status RoundRobinStrategy::Shard(const spi::ShardingRequest& request,
                                      spi::ShardingPlan* plan) const noexcept {
  try {
    spi::Status status = ValidateShardingRequest(request);
    if (!status.ok()) return status;
    const int count = static_cast<int>(request.instances.size());
    const int offset = RoundRobinOffset(JavaStringHash(request.job_name), count);
    AllocateAverageRotated(request.instances, offset, request.sharding_total_count, plan);
    return spi::Status::Ok();
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("ROUND_ROBIN: ") + e.what());
  }
}

}  // namespace shardjob::strategies
