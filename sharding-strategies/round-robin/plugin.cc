#include "shardjob/spi/plugin.h"
#include "sharding-strategies/round-robin/round_robin_strategy.h"

SHARDJOB_PLUGIN(
    "round-robin-sharding-strategy",
    shardjob::spi::ShardingStrategyEntry<shardjob::strategies::RoundRobinStrategy>("ROUND_ROBIN"))
