#include "executors/simple/simple_executor.h"
#include "shardjob/spi/plugin.h"

SHARDJOB_PLUGIN("simple-executor",
                shardjob::spi::ExecutorEntry<shardjob::executors::SimpleExecutor>("SIMPLE"))
