#include "shardjob/spi/plugin.h"
#include "executors/simple/simple_executor.h"

SHARDJOB_PLUGIN("simple-executor",
                shardjob::spi::ExecutorEntry<shardjob::executors::SimpleExecutor>("SIMPLE"))
