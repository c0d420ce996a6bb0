#include "shardjob/spi/plugin.h"
#include "key_range_source.h"
#include "table_copy_job.h"

// The type names are what a job's YAML names:
//   class: EXAMPLE_TABLE_COPY
//   shard_source: EXAMPLE_TABLE_KEY_RANGE
SHARDJOB_PLUGIN(
    "example-table-copy",
    shardjob::spi::ShardSourceEntry<shardjob::examples::KeyRangeSource>("EXAMPLE_TABLE_KEY_RANGE"),
    shardjob::spi::SimpleJobEntry<shardjob::examples::TableCopyJob>("EXAMPLE_TABLE_COPY"))
