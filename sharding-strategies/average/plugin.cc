#include "sharding-strategies/average/average_allocation_strategy.h"
#include "shardjob/spi/plugin.h"

SHARDJOB_PLUGIN("average-allocation-sharding-strategy",
                shardjob::spi::ShardingStrategyEntry<shardjob::strategies::AverageAllocationStrategy>(
                    "AVG_ALLOCATION"))
