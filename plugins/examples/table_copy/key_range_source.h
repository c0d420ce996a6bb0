#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"
#include "shardjob/spi/shard_source.h"

namespace shardjob::examples {

// A half-open range of keys, [start, end).
struct KeyRange {
  std::int64_t start = 0;
  std::int64_t end = 0;
};

// [min, max + 1) cut into `count` contiguous ranges, in key order, whose sizes differ by at most
// one (the first ones are the larger). max must be >= min and below INT64_MAX; count >= 1.
std::vector<KeyRange> SplitKeyRange(std::int64_t min, std::int64_t max, int count);

// EXAMPLE_TABLE_KEY_RANGE: a shard source that cuts a table's integer key into ranges at fire
// time. Props (the job's): `copy.source` (the SQLite file), `copy.table`, `copy.key` (an
// INTEGER column). Generate reads MIN(key) and MAX(key) and splits [min, max + 1) into the
// fire's shard count: shard i gets params {"start", "end"} and the label "<table> [start, end)".
// An empty table gives empty ranges (start = end = 0).
//
// Not deterministic: the table changes between two calls, so the kernel generates a fire's
// ranges once, stores them in the registry, and every runner of that fire (a failover included)
// copies the same ranges.
class KeyRangeSource : public spi::ShardSource {
 public:
  explicit KeyRangeSource(const spi::PluginContext& context);

  bool Deterministic() const noexcept override { return false; }
  spi::Status Generate(const spi::ShardSourceRequest& request,
                       std::vector<spi::ShardSpec>* shards) noexcept override;

 private:
  std::vector<spi::ShardSpec> GenerateOrThrow(const spi::ShardSourceRequest& request) const;

  spi::Logger& logger_;
  std::string source_;
  std::string table_;
  std::string key_;
};

}  // namespace shardjob::examples
