#include "shardjob/spi/plugin.h"
#include "sharding-strategies/odevity/odevity_strategy.h"

SHARDJOB_PLUGIN(
    "odevity-sharding-strategy",
    shardjob::spi::ShardingStrategyEntry<shardjob::strategies::OdevityStrategy>("ODEVITY"))
