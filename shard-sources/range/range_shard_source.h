#pragma once

#include <cstdint>
#include <vector>

#include "shardjob/spi/plugin.h"
#include "shardjob/spi/shard_source.h"

namespace shardjob::shard_sources {

// RANGE: cuts the integer range [range.start, range.end) into the fire's shards, each a
// contiguous [start, end) handed to the task as params {"start", "end"} (decimal strings).
//
// Without range.page_size the range is split into sharding_total_count parts as evenly as
// possible, the first (length % count) one value longer. With range.page_size each shard is one
// page of that many values (the last may be shorter), so the page count must be the job's
// sharding_total_count: a mismatch is refused with the count to set, rather than silently giving
// some shard more than a page.
//
// A pure function of its props and the shard count, so Deterministic(): every instance computes
// the same shards itself and nothing is stored in the registry. Stateless after construction,
// so thread-safe.
class RangeShardSource : public spi::ShardSource {
 public:
  // Throws std::invalid_argument naming the prop when range.start or range.end is missing, a
  // value is not an integer, range.end <= range.start, range.page_size < 1, or a range.* prop is
  // unknown (a typo must not silently fall back to the even split).
  explicit RangeShardSource(const spi::PluginContext& context);

  bool Deterministic() const noexcept override { return true; }
  spi::Status Generate(const spi::ShardSourceRequest& request,
                       std::vector<spi::ShardSpec>* shards) noexcept override;

 private:
  // Splits into `count` shards as evenly as possible; refuses more shards than values.
  spi::Status SplitEvenly(int count, std::vector<spi::ShardSpec>* shards) const;
  // One shard per page; refuses a page count other than `count`.
  spi::Status SplitIntoPages(int count, std::vector<spi::ShardSpec>* shards) const;
  std::string Describe() const;  // "[start, end)"

  std::int64_t start_ = 0;
  std::int64_t end_ = 0;        // exclusive, > start_
  std::int64_t page_size_ = 0;  // 0: no paging, split evenly
};

}  // namespace shardjob::shard_sources
