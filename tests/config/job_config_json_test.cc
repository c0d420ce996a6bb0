#include "config/job_config_json.h"

#include <gtest/gtest.h>

namespace shardjob::config {
namespace {

JobConfig FullJob() {
  JobConfig job;
  job.name = "order-sync";
  job.job_class = "ORDER_SYNC";
  job.description = "costs $5 per ${run}";
  job.cron = "0/5 * * * * ?";
  job.time_zone = "Asia/Shanghai";
  job.jitter = std::chrono::milliseconds(250);
  job.sharding_total_count = 3;
  job.sharding_item_parameters = {{0, "A"}, {2, "C=3"}};
  job.job_parameter = "full";
  job.grid_pages = 4;
  job.shard_source = "RANGE";
  job.sharding_mode = ShardingMode::kDynamic;
  job.monitor_execution = false;
  job.failover = true;
  job.misfire = false;
  job.max_time_diff_seconds = 5;
  job.reconcile_interval_minutes = 2;
  job.sharding_strategy = "ROUND_ROBIN";
  job.executor_thread_pool = "3";
  job.executor_threads = 3;
  job.error_handler = "THROW";
  job.listeners = {"A", "B"};
  job.disabled = true;
  job.overwrite = true;
  job.label = "blue";
  job.props = {{"script.command.line", "echo $HOME ${NOT_EXPANDED}"}, {"k", "v"}};
  return job;
}

TEST(JobConfigJsonTest, RoundTripKeepsEveryFieldAndExpandsNothing) {
  JobConfig original = FullJob();
  JobConfig read = JobConfigFromJson(JobConfigToJson(original), "registry:/x");
  EXPECT_EQ(read.name, original.name);
  EXPECT_EQ(read.job_class, original.job_class);
  EXPECT_EQ(read.description, original.description);
  EXPECT_EQ(read.cron, original.cron);
  EXPECT_EQ(read.time_zone, original.time_zone);
  EXPECT_EQ(read.jitter, original.jitter);
  EXPECT_EQ(read.sharding_total_count, 3);
  EXPECT_EQ(read.sharding_item_parameters, original.sharding_item_parameters);
  EXPECT_EQ(read.job_parameter, "full");
  EXPECT_EQ(read.grid_pages, 4);
  EXPECT_EQ(read.ShardCount(), 12);
  EXPECT_EQ(read.shard_source, "RANGE");
  EXPECT_EQ(read.sharding_mode, ShardingMode::kDynamic);
  EXPECT_FALSE(read.monitor_execution);
  EXPECT_TRUE(read.failover);
  EXPECT_FALSE(read.misfire);
  EXPECT_EQ(read.max_time_diff_seconds, 5);
  EXPECT_EQ(read.reconcile_interval_minutes, 2);
  EXPECT_EQ(read.sharding_strategy, "ROUND_ROBIN");
  EXPECT_EQ(read.executor_threads, 3);
  EXPECT_EQ(read.error_handler, "THROW");
  EXPECT_EQ(read.listeners, original.listeners);
  EXPECT_TRUE(read.disabled);
  EXPECT_TRUE(read.overwrite);
  EXPECT_EQ(read.label, "blue");
  EXPECT_EQ(read.props, original.props);
}

TEST(JobConfigJsonTest, FixedRateAndTypedJobsRoundTrip) {
  JobConfig job;
  job.name = "report";
  job.executor_type = "SCRIPT";
  job.fixed_rate = std::chrono::milliseconds(1500);
  job.props = {{"script.command.line", "/bin/true"}};
  JobConfig read = JobConfigFromJson(JobConfigToJson(job), "registry:/x");
  EXPECT_EQ(read.executor_type, "SCRIPT");
  EXPECT_EQ(read.fixed_rate, std::chrono::milliseconds(1500));
  EXPECT_TRUE(read.cron.empty());
}

TEST(JobConfigJsonTest, BadStoredConfigIsAnErrorNamingTheOriginAndKey) {
  try {
    JobConfigFromJson(R"({"name": "x", "type": "SCRIPT", "shardng_total_count": 2})",
                      "registry:/shardjob/jobs/x/config");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("registry:/shardjob/jobs/x/config"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("shardng_total_count"), std::string::npos);
  }
}

}  // namespace
}  // namespace shardjob::config
