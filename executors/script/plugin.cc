#include "shardjob/spi/plugin.h"
#include "executors/script/script_executor.h"

SHARDJOB_PLUGIN("script-executor",
                shardjob::spi::ExecutorEntry<shardjob::executors::ScriptExecutor>("SCRIPT"))
