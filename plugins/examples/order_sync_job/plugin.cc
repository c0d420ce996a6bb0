#include "shardjob/spi/plugin.h"
#include "order_sync_job.h"

// The type name is what a job's YAML names: `class: EXAMPLE_ORDER_SYNC`.
SHARDJOB_PLUGIN(
    "example-order-sync-job",
    shardjob::spi::SimpleJobEntry<shardjob::examples::OrderSyncJob>("EXAMPLE_ORDER_SYNC"))
