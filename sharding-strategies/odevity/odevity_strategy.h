#pragma once

#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::strategies {

// ODEVITY: ElasticJob's OdevitySortByNameJobShardingStrategy. When the Java String.hashCode() of
// the job name is even, the instance list is reversed (ascending ids) before AVG_ALLOCATION;
// when it is odd, negative odd hashes included, the list is used as given. Jobs with few items
// thus spread over different instances instead of all landing on the highest id. Every instance
// appears in the plan, with an empty vector when it gets nothing. Stateless, so thread-safe.
class OdevityStrategy : public spi::ShardingStrategy {
 public:
  spi::Status Shard(const spi::ShardingRequest& request,
                    spi::ShardingPlan* plan) const noexcept override;
};

}  // namespace shardjob::strategies
