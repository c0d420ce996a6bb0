#pragma once

#include <map>
#include <string>
#include <vector>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

struct ShardingRequest {
  std::string job_name;
  int sharding_total_count = 0;
  // The available instance ids, sorted in descending order, as ElasticJob hands them over.
  std::vector<std::string> instances;
};

// instance id -> its items, ascending. Instances with no items may be absent.
using ShardingPlan = std::map<std::string, std::vector<int>>;

// Spreads a job's items over its live instances. Every instance must compute the same plan from
// the same request, so Shard() is a pure, deterministic function of it. Thread-safe.
class ShardingStrategy {
 public:
  virtual ~ShardingStrategy();
  // REQUIRES: request.instances is not empty and request.sharding_total_count > 0.
  virtual Status Shard(const ShardingRequest& request, ShardingPlan* plan) const noexcept = 0;
};

}  // namespace shardjob::spi
