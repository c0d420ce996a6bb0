#include "sharding-strategies/single-balance/single_sharding_balance_strategy.h"

#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "sharding-strategies/common/average_allocation.h"
#include "sharding-strategies/common/java_string_hash.h"

namespace shardjob::strategies {

int SingleShardingBalanceOffset(std::int32_t job_name_hash, std::int64_t now_ms,
                                int instance_count) {
  // Java adds two ints with wrap-around: (int) currentTimeMillis keeps the low 32 bits.
  std::uint32_t sum = static_cast<std::uint32_t>(job_name_hash) +
                      static_cast<std::uint32_t>(static_cast<std::uint64_t>(now_ms));
  std::int64_t magnitude = std::llabs(static_cast<std::int64_t>(static_cast<std::int32_t>(sum)));
  return static_cast<int>(magnitude % instance_count);
}

spi::Status SingleShardingBalanceStrategy::Shard(const spi::ShardingRequest& request,
                                                 spi::ShardingPlan* plan) const noexcept {
  try {
    spi::Status status = ValidateShardingRequest(request);
    if (!status.ok()) return status;
    const int count = static_cast<int>(request.instances.size());
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    const int offset = SingleShardingBalanceOffset(JavaStringHash(request.job_name), now_ms, count);
    AllocateAverageRotated(request.instances, offset, request.sharding_total_count, plan);
    return spi::Status::Ok();
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("SINGLE_SHARDING_BALANCE: ") + e.what());
  }
}

}  // namespace shardjob::strategies
