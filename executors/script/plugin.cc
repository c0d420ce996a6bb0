#include "executors/script/script_executor.h"
#include "shardjob/spi/plugin.h"

SHARDJOB_PLUGIN("script-executor",
                shardjob::spi::ExecutorEntry<shardjob::executors::ScriptExecutor>("SCRIPT"))
