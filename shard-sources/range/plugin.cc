#include "shardjob/spi/plugin.h"
#include "shard-sources/range/range_shard_source.h"

SHARDJOB_PLUGIN("range-shard-source",
                shardjob::spi::ShardSourceEntry<shardjob::shard_sources::RangeShardSource>("RANGE"))
