#include "shardjob/spi/plugin.h"
#include "sharding-strategies/average/average_allocation_strategy.h"

SHARDJOB_PLUGIN(
    "average-allocation-sharding-strategy",
    shardjob::spi::ShardingStrategyEntry<shardjob::strategies::AverageAllocationStrategy>(
        "AVG_ALLOCATION"))
