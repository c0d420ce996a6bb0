#include "sharding-strategies/common/average_allocation.h"

#include <set>
#include <string_view>

namespace shardjob::strategies {

spi::Status ValidateShardingRequest(const spi::ShardingRequest& request) {
  if (request.instances.empty()) {
    return spi::Status::InvalidArgument("job '" + request.job_name +
                                        "' has no instance to shard to");
  }
  if (request.sharding_total_count <= 0) {
    return spi::Status::InvalidArgument("job '" + request.job_name +
                                        "' has a non-positive sharding total count " +
                                        std::to_string(request.sharding_total_count));
  }
  std::set<std::string_view> seen;
  for (const std::string& instance : request.instances) {
    if (!seen.insert(instance).second) {
      return spi::Status::InvalidArgument("job '" + request.job_name + "' lists instance '" +
                                          instance + "' twice");
    }
  }
  return spi::Status::Ok();
}

void AllocateAverage(const std::vector<std::string>& instances, int sharding_total_count,
                     spi::ShardingPlan* plan) {
  plan->clear();
  const int count = static_cast<int>(instances.size());
  const int per_instance = sharding_total_count / count;
  const int remainder = sharding_total_count % count;
  for (int k = 0; k < count; ++k) {
    std::vector<int>& items = (*plan)[instances[k]];
    items.reserve(per_instance + 1);
    for (int item = k * per_instance; item < (k + 1) * per_instance; ++item) items.push_back(item);
    // Appended last, so each list stays ascending: the remainder items are the highest numbers.
    if (k < remainder) items.push_back(per_instance * count + k);
  }
}

void AllocateAverageRotated(const std::vector<std::string>& instances, int offset,
                            int sharding_total_count, spi::ShardingPlan* plan) {
  const std::size_t count = instances.size();
  std::vector<std::string> rotated;
  rotated.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    rotated.push_back(instances[(i + static_cast<std::size_t>(offset)) % count]);
  }
  AllocateAverage(rotated, sharding_total_count, plan);
}

}  // namespace shardjob::strategies
