#pragma once

#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::strategies {

// AVG_ALLOCATION, ElasticJob's default: contiguous equal blocks in the order the instances are
// given (descending instance id), the remainder one item each to the first instances. With 10
// items over [C, B, A]: C=[0,1,2,9], B=[3,4,5], A=[6,7,8]. Every instance appears in the plan,
// with an empty vector when it gets nothing. Stateless, so thread-safe.
class AverageAllocationStrategy : public spi::ShardingStrategy {
 public:
  spi::Status Shard(const spi::ShardingRequest& request,
                    spi::ShardingPlan* plan) const noexcept override;
};

}  // namespace shardjob::strategies
