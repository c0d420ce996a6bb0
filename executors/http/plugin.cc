#include "shardjob/spi/plugin.h"
#include "executors/http/http_executor.h"

SHARDJOB_PLUGIN("http-executor",
                shardjob::spi::ExecutorEntry<shardjob::executors::HttpExecutor>("HTTP"))
