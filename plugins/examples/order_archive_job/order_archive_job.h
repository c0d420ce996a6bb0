#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shardjob/spi/job.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::examples {

// An order waiting to be archived: what one DataflowJob item looks like.
struct PendingOrder {
  std::int64_t id = 0;
  std::string region;
};

// EXAMPLE_ORDER_ARCHIVE: a DataflowJob to copy. Per shard (a region), FetchData returns the next
// batch of orders to archive and ProcessData archives them; the DATAFLOW executor calls the pair
// once per fire, or, with `streaming.process: true`, until a fetch comes back empty.
//
// The "source" here is simulated: each fire finds `example.backlog` orders waiting per shard
// (default 25), handed out `example.batch.size` at a time (default 10). A real job would query
// its database for the shard's rows not yet processed, and mark them processed in ProcessData,
// passing context.fencing_token along so that a runner the kernel has replaced gets refused.
//
// FetchData and ProcessData run concurrently for different shards: the per-shard state is kept
// under a lock.
class OrderArchiveJob : public spi::DataflowJob<PendingOrder> {
 public:
  explicit OrderArchiveJob(const spi::PluginContext& context);

  std::vector<PendingOrder> FetchData(const spi::ShardingContext& context) override;
  void ProcessData(const spi::ShardingContext& context, std::vector<PendingOrder>& data) override;

 private:
  struct ShardBacklog {
    std::string fire_id;  // the fire whose backlog `left` counts
    std::int64_t left = 0;
    std::int64_t next_id = 0;
  };

  spi::Logger& logger_;
  std::int64_t backlog_ = 25;
  std::int64_t batch_size_ = 10;
  std::mutex mutex_;
  std::map<int, ShardBacklog> shards_;
};

}  // namespace shardjob::examples
