// IsolatedExecutor on its own, without an instance: what the kernel's flags do to a task that
// runs in a task runner process.

#include "isolation/isolated_executor.h"

#include <gtest/gtest.h>

#include <string>

#include "config/job_config_json.h"
#include "isolation/runner_location.h"
#include "shardjob/spi/cancellation.h"
#include "shardjob/spi/sharding_context.h"

namespace shardjob::isolation {
namespace {

// The example DATAFLOW job streaming a backlog of a million orders, one per round: it only ends
// early if it is told to.
IsolatedExecutor::Options StreamingArchiveJob() {
  config::JobConfig job;
  job.name = "archive";
  job.job_class = "EXAMPLE_ORDER_ARCHIVE";
  job.props = {
      {"streaming.process", "true"}, {"example.backlog", "1000000"}, {"example.batch.size", "1"}};
  IsolatedExecutor::Options options;
  std::string why;
  options.runner = FindTaskRunner(&why);
  options.libraries = {SHARDJOB_PLUGIN_DIR "/shardjob_executor_dataflow.so",
                       SHARDJOB_PLUGIN_DIR "/shardjob_job_example_order_archive.so"};
  options.job_config_json = config::JobConfigToJson(job);
  options.job_interface = "DataflowJob";
  return options;
}

spi::ShardingContext Task(const spi::Cancellation& cancellation,
                          const spi::Cancellation& reassigned, spi::TaskProgress& progress) {
  spi::ShardingContext context;
  context.job_name = "archive";
  context.fire_id = "trigger-0000000001";
  context.task_id = "archive@-@trigger-0000000001@-@0@-@me";
  context.instance_id = "me";
  context.sharding_total_count = 1;
  context.cancellation = &cancellation;
  context.reassigned = &reassigned;
  context.progress = &progress;
  return context;
}

// A streaming task whose shard moved away ends after its round, inside its process too, and
// what it processed is counted.
TEST(IsolatedExecutorTest, AReassignedShardEndsAStreamingTaskInItsProcess) {
  IsolatedExecutor::Options options = StreamingArchiveJob();
  ASSERT_FALSE(options.runner.empty());
  IsolatedExecutor executor(std::move(options));
  spi::Cancellation cancellation;
  spi::Cancellation reassigned;
  spi::TaskProgress progress;
  reassigned.Cancel();  // the shard is gone before the task got going
  spi::Status status = executor.Execute(nullptr, Task(cancellation, reassigned, progress));
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(progress.items_processed(), 1u);
  EXPECT_LT(progress.items_processed(), 1000000u);  // told, it did not stream to the end
}

}  // namespace
}  // namespace shardjob::isolation
