#include "order_archive_job.h"

#include <algorithm>
#include <stdexcept>

namespace shardjob::examples {

OrderArchiveJob::OrderArchiveJob(const spi::PluginContext& context) : logger_(context.logger) {
  spi::Status status = context.props.GetInt("example.backlog", 25, 0, 1'000'000, &backlog_);
  if (status.ok()) {
    status = context.props.GetInt("example.batch.size", 10, 1, 100'000, &batch_size_);
  }
  if (!status.ok()) throw std::invalid_argument(status.message());
}

std::vector<PendingOrder> OrderArchiveJob::FetchData(const spi::ShardingContext& context) {
  std::lock_guard<std::mutex> lock(mutex_);
  ShardBacklog& shard = shards_[context.sharding_item];
  if (shard.fire_id != context.fire_id) {  // a new fire finds a new backlog waiting
    shard.fire_id = context.fire_id;
    shard.left = backlog_;
  }
  std::vector<PendingOrder> batch;
  const std::int64_t take = std::min(shard.left, batch_size_);
  for (std::int64_t i = 0; i < take; ++i) {
    batch.push_back(PendingOrder{shard.next_id++, context.sharding_parameter.value_or("all")});
  }
  shard.left -= take;
  return batch;
}

void OrderArchiveJob::ProcessData(const spi::ShardingContext& context,
                                  std::vector<PendingOrder>& data) {
  logger_.Log(spi::LogLevel::kInfo,
              "job=" + context.job_name + " fire=" + context.fire_id +
                  " shard=" + std::to_string(context.sharding_item) + " archived " +
                  std::to_string(data.size()) + " order(s) of " + data.front().region + ", ids " +
                  std::to_string(data.front().id) + ".." + std::to_string(data.back().id) +
                  " token=" + std::to_string(context.fencing_token));
}

}  // namespace shardjob::examples
