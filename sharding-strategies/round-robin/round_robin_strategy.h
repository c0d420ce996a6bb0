#pragma once

#include <cstdint>

#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::strategies {

// The rotation ROUND_ROBIN applies for a job name hash over `instance_count` instances: the list
// is rotated left by this much before AVG_ALLOCATION.
//
// ElasticJob computes Math.abs(hash) % n. For every hash but Integer.MIN_VALUE that is the true
// |hash| mod n, and so is this. Java's Math.abs(MIN_VALUE) stays negative, making the offset
// MIN_VALUE % n, which is in (-n, 0]: when it is 0 (n a power of two) Java leaves the list as
// is; otherwise its rotation indexes the list with a negative number and the sharding throws
// IndexOutOfBoundsException, so ElasticJob cannot shard such a job at all. Here the offset is the
// true 2^31 mod n instead: identical to Java wherever Java works, and a valid deterministic
// rotation where Java fails. (Such names exist, "polygenelubricants" for one.)
// REQUIRES: instance_count > 0.
int RoundRobinOffset(std::int32_t job_name_hash, int instance_count);

// ROUND_ROBIN: ElasticJob's RotateServerByNameJobShardingStrategy. Rotates the instance list by
// RoundRobinOffset(Java String.hashCode(job name), n), so list'[i] = list[(i + offset) % n], then
// applies AVG_ALLOCATION. Every instance appears in the plan, with an empty vector when it gets
// nothing. Stateless, so thread-safe.
class RoundRobinStrategy : public spi::ShardingStrategy {
 public:
  spi::Status Shard(const spi::ShardingRequest& request,
                    spi::ShardingPlan* plan) const noexcept override;
};

}  // namespace shardjob::strategies
