#include "shardjob/spi/plugin.h"
#include "executors/dataflow/dataflow_executor.h"

SHARDJOB_PLUGIN("dataflow-executor",
                shardjob::spi::ExecutorEntry<shardjob::executors::DataflowExecutor>("DATAFLOW"))
