#pragma once

#include <cstdint>

#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::strategies {

// SINGLE_SHARDING_BALANCE: ElasticJob's SingleShardingBalanceJobShardingStrategy. Rotates the
// instance list by |hash(job name) + (int) now-in-milliseconds| mod n, then applies
// AVG_ALLOCATION, so that jobs with few shards do not all land on the same instance.
//
// Unlike the other strategies it is not a function of its request alone: the leader computes it
// once per change of its inputs (instances, shard count, disabled shards), never to check an
// assignment. With sharding_total_count 1, the kernel also moves the single shard to the next
// live instance after every fire (ElasticJob's "next job instance"), so it rotates across the
// cluster.
class SingleShardingBalanceStrategy : public spi::ShardingStrategy {
 public:
  spi::Status Shard(const spi::ShardingRequest& request,
                    spi::ShardingPlan* plan) const noexcept override;
};

// The rotation for a job name hash at `now_ms`, as Java computes Math.abs(hash + (int) now) % n
// (with the true absolute value where Java's would stay negative, as RoundRobinOffset does).
int SingleShardingBalanceOffset(std::int32_t job_name_hash, std::int64_t now_ms,
                                int instance_count);

}  // namespace shardjob::strategies
