#include "shardjob/spi/plugin.h"
#include "sharding-strategies/single-balance/single_sharding_balance_strategy.h"

SHARDJOB_PLUGIN(
    "single-sharding-balance-strategy",
    shardjob::spi::ShardingStrategyEntry<shardjob::strategies::SingleShardingBalanceStrategy>(
        "SINGLE_SHARDING_BALANCE"))
