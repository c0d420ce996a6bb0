#include "shardjob/spi/plugin.h"
#include "order_archive_job.h"

// The type name is what a job's YAML names: `class: EXAMPLE_ORDER_ARCHIVE`.
SHARDJOB_PLUGIN(
    "example-order-archive-job",
    shardjob::spi::DataflowJobEntry<shardjob::examples::OrderArchiveJob>("EXAMPLE_ORDER_ARCHIVE"))
