#pragma once

#include <string>
#include <vector>

#include "shardjob/spi/sharding_strategy.h"
#include "shardjob/spi/status.h"

namespace shardjob::strategies {

// Rejects what the strategies cannot shard: no instance, a non-positive item count, or an
// instance listed twice (a map keyed by instance would silently lose the duplicate's items).
spi::Status ValidateShardingRequest(const spi::ShardingRequest& request);

// ElasticJob's AverageAllocationJobShardingStrategy over `instances` taken in the given order:
// with q = total / n, the k-th instance gets [k*q, (k+1)*q), and the remainder items q*n + k go to
// the first total % n instances, one each. ODEVITY and ROUND_ROBIN only reorder the list first.
//
// Every instance appears in *plan, with an empty vector when it gets nothing (as in ElasticJob's
// own result map), so a caller can tell "no items" from "not considered". *plan is replaced.
// REQUIRES: ValidateShardingRequest() accepted the same instances and total.
void AllocateAverage(const std::vector<std::string>& instances, int sharding_total_count,
                     spi::ShardingPlan* plan);

// AllocateAverage over the instances rotated left by `offset`: list'[i] = list[(i + offset) % n].
// REQUIRES: 0 <= offset, and the same as AllocateAverage.
void AllocateAverageRotated(const std::vector<std::string>& instances, int offset,
                            int sharding_total_count, spi::ShardingPlan* plan);

}  // namespace shardjob::strategies
