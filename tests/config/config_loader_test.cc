#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "config/config.h"
#include "config/job_config_json.h"

namespace shardjob::config {
namespace {

using std::chrono::milliseconds;

constexpr const char* kFile = "conf/test.yaml";

// The message of the ConfigError that `yaml` raises, or "" when it parses.
std::string ErrorOf(const std::string& yaml) {
  try {
    ParseConfig(yaml, kFile);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Every part must be in the message; the message is printed on failure.
void ExpectErrorContains(const std::string& yaml, std::initializer_list<std::string> parts) {
  const std::string error = ErrorOf(yaml);
  ASSERT_FALSE(error.empty()) << "no error for:\n" << yaml;
  for (const std::string& part : parts) {
    EXPECT_NE(error.find(part), std::string::npos) << "'" << part << "' not in: " << error;
  }
}

int CpuThreads() { return 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

const char kFullConfig[] = R"(instance_id: node-a
registry:
  type: zookeeper
  zookeeper:
    servers: 10.0.0.1:2181,10.0.0.2:2181
    namespace: shardjob-prod
    session_timeout: 20s
    connect_timeout: 3000
    digest: user:secret
plugins:
  dirs: [/opt/shardjob/plugins, ../build/plugins]
http:
  listen: 127.0.0.1:8899
  token: s3cret
tracing:
  type: LOG
  props: {level: debug}
shutdown_grace: 1m
log_level: debug
jobs:
  - name: order-sync
    class: ORDER_SYNC
    cron: "0/5 * * * * ?"
    time_zone: Asia/Shanghai
    jitter: 500ms
    sharding_total_count: 4
    sharding_item_parameters: "0=A,1=B,2=C"
    job_parameter: p=1
    monitor_execution: false
    failover: true
    misfire: false
    max_time_diff_seconds: 60
    reconcile_interval_minutes: 0
    sharding_strategy: ROUND_ROBIN
    executor_thread_pool: SINGLE_THREAD
    error_handler: THROW
    listeners: [A, B]
    description: Syncs orders
    disabled: true
    overwrite: true
    label: billing
    props: {script.command.line: "echo hi", k: 3}
  - name: report_1.x
    type: SCRIPT
    fixed_rate: 10s
    sharding_item_parameters: {0: first, 1: second}
    sharding_total_count: 2
    executor_thread_pool: 3
  - name: cleanup
    type: HTTP
    fixed_delay: 2h
)";

TEST(ParseConfigTest, FullConfig) {
  const Config config = ParseConfig(kFullConfig, "/etc/shardjob/shardjob.yaml");
  EXPECT_EQ(config.path, "/etc/shardjob/shardjob.yaml");
  EXPECT_EQ(config.instance_id, "node-a");
  EXPECT_EQ(config.registry.type, RegistryConfig::Type::kZookeeper);
  EXPECT_EQ(config.registry.zookeeper.servers, "10.0.0.1:2181,10.0.0.2:2181");
  EXPECT_EQ(config.registry.zookeeper.root_namespace, "shardjob-prod");
  EXPECT_EQ(config.registry.zookeeper.session_timeout, milliseconds(20000));
  EXPECT_EQ(config.registry.zookeeper.connect_timeout, milliseconds(3000));
  EXPECT_EQ(config.registry.zookeeper.digest, "user:secret");
  EXPECT_EQ(config.plugin_dirs,
            (std::vector<std::string>{"/opt/shardjob/plugins", "/etc/build/plugins"}));
  EXPECT_EQ(config.http.listen, "127.0.0.1:8899");
  EXPECT_EQ(config.http.token, "s3cret");
  EXPECT_EQ(config.tracing.type, "LOG");
  EXPECT_EQ(config.tracing.props, (std::map<std::string, std::string>{{"level", "debug"}}));
  EXPECT_EQ(config.shutdown_grace, milliseconds(60000));
  EXPECT_EQ(config.log_level, "debug");
  ASSERT_EQ(config.jobs.size(), 3u);

  const JobConfig& order = config.jobs[0];
  EXPECT_EQ(order.location.ToString(), "/etc/shardjob/shardjob.yaml:21:5");
  EXPECT_EQ(order.name, "order-sync");
  EXPECT_EQ(order.job_class, "ORDER_SYNC");
  EXPECT_EQ(order.executor_type, "");
  EXPECT_EQ(order.cron, "0/5 * * * * ?");
  EXPECT_EQ(order.time_zone, "Asia/Shanghai");
  EXPECT_FALSE(order.fixed_rate.has_value());
  EXPECT_FALSE(order.fixed_delay.has_value());
  EXPECT_EQ(order.jitter, milliseconds(500));
  EXPECT_EQ(order.sharding_total_count, 4);
  EXPECT_EQ(order.sharding_item_parameters,
            (std::map<int, std::string>{{0, "A"}, {1, "B"}, {2, "C"}}));
  EXPECT_EQ(order.job_parameter, "p=1");
  EXPECT_FALSE(order.monitor_execution);
  EXPECT_TRUE(order.failover);
  EXPECT_FALSE(order.misfire);
  EXPECT_EQ(order.max_time_diff_seconds, 60);
  EXPECT_EQ(order.reconcile_interval_minutes, 0);
  EXPECT_EQ(order.sharding_strategy, "ROUND_ROBIN");
  EXPECT_EQ(order.executor_thread_pool, "SINGLE_THREAD");
  EXPECT_EQ(order.executor_threads, 1);
  EXPECT_EQ(order.error_handler, "THROW");
  EXPECT_EQ(order.listeners, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(order.description, "Syncs orders");
  EXPECT_TRUE(order.disabled);
  EXPECT_TRUE(order.overwrite);
  EXPECT_EQ(order.label, "billing");
  EXPECT_EQ(order.props,
            (std::map<std::string, std::string>{{"script.command.line", "echo hi"}, {"k", "3"}}));

  const JobConfig& report = config.jobs[1];
  EXPECT_EQ(report.name, "report_1.x");
  EXPECT_EQ(report.executor_type, "SCRIPT");
  EXPECT_EQ(report.job_class, "");
  EXPECT_EQ(report.cron, "");
  EXPECT_EQ(report.fixed_rate, milliseconds(10000));
  EXPECT_EQ(report.sharding_item_parameters,
            (std::map<int, std::string>{{0, "first"}, {1, "second"}}));
  EXPECT_EQ(report.executor_thread_pool, "3");
  EXPECT_EQ(report.executor_threads, 3);

  const JobConfig& cleanup = config.jobs[2];
  EXPECT_EQ(cleanup.fixed_delay, milliseconds(2 * 3600 * 1000));
  EXPECT_FALSE(cleanup.fixed_rate.has_value());
}

TEST(ParseConfigTest, EmptyFileIsTheDefaults) {
  for (const char* text : {"", "# nothing yet\n", "jobs:\n"}) {
    const Config config = ParseConfig(text, kFile);
    EXPECT_EQ(config.path, kFile);
    EXPECT_EQ(config.instance_id, "");
    EXPECT_EQ(config.registry.type, RegistryConfig::Type::kEmbedded);
    EXPECT_EQ(config.registry.zookeeper.servers, "");
    EXPECT_EQ(config.registry.zookeeper.root_namespace, "shardjob");
    EXPECT_EQ(config.registry.zookeeper.session_timeout, milliseconds(15000));
    EXPECT_EQ(config.registry.zookeeper.connect_timeout, milliseconds(15000));
    EXPECT_EQ(config.registry.zookeeper.digest, "");
    EXPECT_TRUE(config.plugin_dirs.empty());
    EXPECT_EQ(config.http.listen, "");
    EXPECT_EQ(config.http.token, "");
    EXPECT_EQ(config.tracing.type, "");
    EXPECT_TRUE(config.tracing.props.empty());
    EXPECT_EQ(config.shutdown_grace, milliseconds(30000));
    EXPECT_EQ(config.log_level, "info");
    EXPECT_TRUE(config.jobs.empty());
  }
}

TEST(ParseConfigTest, JobDefaults) {
  const Config config = ParseConfig("jobs:\n  - name: a\n    type: SCRIPT\n", kFile);
  ASSERT_EQ(config.jobs.size(), 1u);
  const JobConfig& job = config.jobs[0];
  EXPECT_EQ(job.location.ToString(), "conf/test.yaml:2:5");
  EXPECT_EQ(job.name, "a");
  EXPECT_EQ(job.executor_type, "SCRIPT");
  EXPECT_EQ(job.job_class, "");
  EXPECT_EQ(job.description, "");
  EXPECT_EQ(job.cron, "");
  EXPECT_EQ(job.time_zone, "");
  EXPECT_FALSE(job.fixed_rate.has_value());
  EXPECT_FALSE(job.fixed_delay.has_value());
  EXPECT_EQ(job.jitter, milliseconds(0));
  EXPECT_EQ(job.sharding_total_count, 1);
  EXPECT_TRUE(job.sharding_item_parameters.empty());
  EXPECT_EQ(job.job_parameter, "");
  EXPECT_TRUE(job.monitor_execution);
  EXPECT_FALSE(job.failover);
  EXPECT_TRUE(job.misfire);
  EXPECT_EQ(job.max_time_diff_seconds, -1);
  EXPECT_EQ(job.reconcile_interval_minutes, 10);
  EXPECT_EQ(job.sharding_strategy, "AVG_ALLOCATION");
  EXPECT_EQ(job.executor_thread_pool, "CPU");
  EXPECT_EQ(job.executor_threads, CpuThreads());
  EXPECT_EQ(job.error_handler, "LOG");
  EXPECT_TRUE(job.listeners.empty());
  EXPECT_FALSE(job.disabled);
  EXPECT_FALSE(job.overwrite);
  EXPECT_EQ(job.label, "");
  EXPECT_TRUE(job.props.empty());
}

TEST(ParseConfigTest, EmptyCollectionsMayBeLeftBlank) {
  const Config config = ParseConfig(
      "plugins:\n  dirs:\ntracing:\n  props:\njobs:\n  - name: a\n    type: T\n    listeners:\n"
      "    props:\n",
      kFile);
  EXPECT_TRUE(config.plugin_dirs.empty());
  EXPECT_TRUE(config.tracing.props.empty());
  EXPECT_EQ(config.tracing.type, "SQLITE");  // a tracing section without a type
  EXPECT_EQ(config.tracing.buffer_events, 10000u);
  EXPECT_TRUE(config.jobs[0].listeners.empty());
  EXPECT_TRUE(config.jobs[0].props.empty());
}

TEST(ParseConfigTest, ExecutorThreadPool) {
  auto threads = [](const std::string& pool) {
    return ParseConfig("jobs: [{name: a, type: T, executor_thread_pool: " + pool + "}]", kFile)
        .jobs[0]
        .executor_threads;
  };
  EXPECT_EQ(threads("CPU"), CpuThreads());
  EXPECT_EQ(threads("SINGLE_THREAD"), 1);
  EXPECT_EQ(threads("16"), 16);
  ExpectErrorContains("jobs: [{name: a, type: T, executor_thread_pool: 0}]",
                      {"conf/test.yaml:1:49: jobs[0].executor_thread_pool: must be at least 1"});
  ExpectErrorContains("jobs: [{name: a, type: T, executor_thread_pool: -2}]",
                      {":1:49:", "must be at least 1"});
  ExpectErrorContains("jobs: [{name: a, type: T, executor_thread_pool: cpu}]",
                      {":1:49:", "expected CPU, SINGLE_THREAD or a number of threads, got 'cpu'"});
}

TEST(ParseConfigTest, ShardingModesGridPagesAndShardSource) {
  JobConfig job = ParseConfig(
                      "jobs: [{name: a, type: T, sharding_total_count: 4, grid_pages: 3, "
                      "shard_source: RANGE, sharding_mode: dynamic}]",
                      kFile)
                      .jobs[0];
  EXPECT_EQ(job.grid_pages, 3);
  EXPECT_EQ(job.ShardCount(), 12);
  EXPECT_EQ(job.shard_source, "RANGE");
  EXPECT_EQ(job.sharding_mode, ShardingMode::kDynamic);
  JobConfig plain = ParseConfig("jobs: [{name: a, type: T}]", kFile).jobs[0];
  EXPECT_EQ(plain.grid_pages, 1);
  EXPECT_EQ(plain.sharding_mode, ShardingMode::kStatic);
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_mode: stealing}]",
                      {"conf/test.yaml:1:42: jobs[0].sharding_mode:",
                       "expected one of static, dynamic, got 'stealing'"});
  ExpectErrorContains("jobs: [{name: a, type: T, grid_pages: 0}]",
                      {":1:39: jobs[0].grid_pages: must be at least 1"});
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_total_count: 1000, grid_pages: 101}]",
                      {"jobs[0].grid_pages:", "101000 shards, more than the 100000"});
  ExpectErrorContains("jobs: [{name: a, type: T, shard_source: ''}]", {"jobs[0].shard_source:"});
}

// ---- unknown keys ----

TEST(ParseConfigTest, MisspeltKeyNamesFileLineKeyAndSuggestion) {
  const std::string yaml = R"(registry:
  type: embedded
jobs:
  - name: a
    type: SCRIPT
  - name: b
    shardng_total_count: 4
    type: SCRIPT
)";
  EXPECT_EQ(ErrorOf(yaml),
            "conf/test.yaml:7:5: jobs[1].shardng_total_count: unknown key (did you mean "
            "'sharding_total_count'?)");
}

TEST(ParseConfigTest, UnknownKeysAtEveryLevel) {
  ExpectErrorContains("instance_id: a\nregistri: {}\n",
                      {"conf/test.yaml:2:1: registri: unknown key (did you mean 'registry'?)"});
  ExpectErrorContains(
      "registry:\n  type: zookeeper\n  zookeeper:\n    servers: h:1\n"
      "    session_timout: 1s\n",
      {"conf/test.yaml:5:5: registry.zookeeper.session_timout: unknown key",
       "did you mean 'session_timeout'?"});
  ExpectErrorContains("http:\n  port: 80\n", {"conf/test.yaml:2:3: http.port: unknown key"});
  ExpectErrorContains("plugins:\n  dir: [a]\n", {":2:3: plugins.dir:", "did you mean 'dirs'?"});
  ExpectErrorContains("tracing:\n  prop: {}\n", {":2:3: tracing.prop:", "did you mean 'props'?"});
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    shardingTotalCount: 2\n",
      {":4:5: jobs[0].shardingTotalCount: unknown key", "did you mean 'sharding_total_count'?"});
}

TEST(ParseConfigTest, UnknownKeyFarFromAnyKnownKeyHasNoSuggestion) {
  const std::string error = ErrorOf("schedule: x\n");
  EXPECT_EQ(error, "conf/test.yaml:1:1: schedule: unknown key");
}

TEST(ParseConfigTest, DuplicateYamlKeyIsAnError) {
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    failover: true\n    failover: false\n",
                      {"conf/test.yaml:5:5: jobs[0].failover: duplicate key"});
}

// ---- types ----

TEST(ParseConfigTest, WrongTypesAreErrors) {
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_total_count: four}]",
                      {":1:49: jobs[0].sharding_total_count: expected an integer, got 'four'"});
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_total_count: +-1}]",
                      {"jobs[0].sharding_total_count: expected an integer, got '+-1'"});
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_total_count: 1.5}]",
                      {"jobs[0].sharding_total_count: expected an integer, got '1.5'"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    failover: yes\n",
                      {":4:15: jobs[0].failover: expected true or false, got 'yes'"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    listeners: A\n",
                      {":4:16: jobs[0].listeners: expected a list, got 'A'"});
  ExpectErrorContains("registry: embedded\n",
                      {"conf/test.yaml:1:11: registry: expected a map, got 'embedded'"});
  ExpectErrorContains("jobs:\n  name: a\n", {":2:3: jobs: expected a list, got a map"});
  ExpectErrorContains("jobs:\n  - name: [a]\n    type: T\n",
                      {":2:11: jobs[0].name: expected a string, got a list"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    props: {k: [1, 2]}\n",
                      {":4:16: jobs[0].props.k: expected a scalar value, got a list"});
  ExpectErrorContains("- a\n- b\n",
                      {"conf/test.yaml:1:1: (top level): expected a map, got a list"});
  ExpectErrorContains("jobs:\n  - just-a-name\n",
                      {":2:5: jobs[0]: expected a map, got 'just-a-name'"});
}

TEST(ParseConfigTest, EmptyScalarValueIsAnErrorAtItsKey) {
  ExpectErrorContains(
      "instance_id:\nlog_level: info\n",
      {"conf/test.yaml:1:1: instance_id: expected a string, got an empty value", "write \"\""});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    failover: ~\n",
                      {":4:5: jobs[0].failover: expected true or false, got an empty value"});
}

TEST(ParseConfigTest, OutOfRangeValuesAreErrors) {
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_total_count: 0}]",
                      {":1:49: jobs[0].sharding_total_count: must be at least 1, got 0"});
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_total_count: 99999999999}]",
                      {"jobs[0].sharding_total_count: must be at most 100000"});
  ExpectErrorContains("jobs: [{name: a, type: T, max_time_diff_seconds: -2}]",
                      {"jobs[0].max_time_diff_seconds: must be at least -1, got -2"});
  ExpectErrorContains("jobs: [{name: a, type: T, reconcile_interval_minutes: -1}]",
                      {"jobs[0].reconcile_interval_minutes: must be at least 0, got -1"});
  ExpectErrorContains("log_level: verbose\n",
                      {":1:12: log_level: expected debug, info, warn or error, got 'verbose'"});
  ExpectErrorContains("registry:\n  type: etcd\n",
                      {":2:9: registry.type: expected 'embedded' or 'zookeeper', got 'etcd'"});
  ExpectErrorContains("http:\n  listen: localhost\n", {":2:11: http.listen: expected host:port"});
  ExpectErrorContains("http:\n  listen: 127.0.0.1:99999\n", {":2:11: http.listen:"});
  ExpectErrorContains("jobs: [{name: a, type: '', cron: '0 * * * * ?'}]",
                      {"jobs[0].type: must not be empty"});
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_strategy: ''}]",
                      {"jobs[0].sharding_strategy: must not be empty"});
  ExpectErrorContains("jobs: [{name: a, type: T, listeners: [A, B, A]}]",
                      {"jobs[0].listeners[2]: listener 'A' is listed twice"});
}

TEST(ParseConfigTest, HttpListenForms) {
  EXPECT_EQ(ParseConfig("http: {listen: '[::1]:0'}", kFile).http.listen, "[::1]:0");
  EXPECT_EQ(ParseConfig("http: {listen: ''}", kFile).http.listen, "");
}

TEST(ParseConfigTest, ClaimAheadIsBoundedAndStoredOnlyWhenSet) {
  config::Config parsed =
      ParseConfig("jobs: [{name: a, type: T, cron: '0/1 * * * * ?', claim_ahead: 20ms}]", kFile);
  EXPECT_EQ(parsed.jobs[0].claim_ahead, std::chrono::milliseconds(20));
  EXPECT_NE(JobConfigToJson(parsed.jobs[0]).find("\"claim_ahead\":\"20ms\""), std::string::npos);
  EXPECT_EQ(JobConfigFromJson(JobConfigToJson(parsed.jobs[0]), "json").claim_ahead,
            std::chrono::milliseconds(20));
  config::Config plain = ParseConfig("jobs: [{name: a, type: T}]", kFile);
  EXPECT_EQ(JobConfigToJson(plain.jobs[0]).find("claim_ahead"), std::string::npos);
  EXPECT_EQ(
      ParseConfig("jobs: [{name: a, type: T, claim_ahead: 500ms}]", kFile).jobs[0].claim_ahead,
      std::chrono::milliseconds(500));
  ExpectErrorContains("jobs: [{name: a, type: T, claim_ahead: 501ms}]",
                      {"jobs[0].claim_ahead: at most 500ms"});
  ExpectErrorContains("jobs: [{name: a, type: T, fixed_rate: 50ms, claim_ahead: 26ms}]",
                      {"jobs[0].claim_ahead: at most half of fixed_rate"});
  ExpectErrorContains("jobs: [{name: a, type: T, fixed_delay: 1s, claim_ahead: 20ms}]",
                      {"jobs[0].claim_ahead: not with fixed_delay"});
}

TEST(ParseConfigTest, TheConsoleIsServedUnlessTurnedOff) {
  EXPECT_TRUE(ParseConfig("http: {listen: '127.0.0.1:0'}", kFile).http.console);
  EXPECT_FALSE(ParseConfig("http: {listen: '127.0.0.1:0', console: false}", kFile).http.console);
  ExpectErrorContains("http:\n  console: maybe\n", {":2:12: http.console:"});
}

TEST(ParseConfigTest, NamesThatCannotBePathSegmentsAreErrors) {
  ExpectErrorContains("jobs:\n  - name: orders/eu\n    type: T\n",
                      {":2:11: jobs[0].name: bad job name 'orders/eu'"});
  ExpectErrorContains("jobs: [{name: '..', type: T}]", {"jobs[0].name: bad job name '..'"});
  ExpectErrorContains("jobs: [{name: 'a b', type: T}]", {"jobs[0].name: bad job name 'a b'"});
  ExpectErrorContains("instance_id: a/b\n", {":1:14: instance_id: bad instance id 'a/b'"});
  ExpectErrorContains("registry:\n  zookeeper:\n    namespace: /shardjob\n",
                      {":3:16: registry.zookeeper.namespace: bad namespace '/shardjob'"});
}

// ---- required keys and rules between keys ----

TEST(ParseConfigTest, MissingRequiredKeys) {
  ExpectErrorContains("jobs:\n  - type: SCRIPT\n",
                      {"conf/test.yaml:2:5: jobs[0].name: missing required key"});
  ExpectErrorContains("registry:\n  type: zookeeper\n",
                      {":2:3: registry.zookeeper: missing required key"});
  ExpectErrorContains("registry:\n  type: zookeeper\n  zookeeper:\n    namespace: x\n",
                      {":4:5: registry.zookeeper.servers: missing required key"});
}

TEST(ParseConfigTest, ZookeeperSectionIsCheckedButOptionalWhenEmbedded) {
  const Config config =
      ParseConfig("registry:\n  type: embedded\n  zookeeper:\n    namespace: other\n", kFile);
  EXPECT_EQ(config.registry.type, RegistryConfig::Type::kEmbedded);
  EXPECT_EQ(config.registry.zookeeper.root_namespace, "other");
  ExpectErrorContains("registry:\n  zookeeper:\n    servers: a,,b\n",
                      {":3:14: registry.zookeeper.servers: empty entry in 'a,,b'"});
  ExpectErrorContains("registry:\n  zookeeper:\n    digest: nocolon\n",
                      {":3:13: registry.zookeeper.digest: expected 'user:password'"});
}

TEST(ParseConfigTest, DuplicateJobNames) {
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n  - name: b\n    type: T\n  - name: a\n    type: T\n",
      {"conf/test.yaml:6:11: jobs[2].name: duplicate job name 'a' (also jobs[0], line 2)"});
}

TEST(ParseConfigTest, ExactlyOneOfClassAndType) {
  ExpectErrorContains("jobs:\n  - name: a\n    class: C\n    type: T\n",
                      {"conf/test.yaml:4:11: jobs[0].type: a job has either 'class' or 'type', and "
                       "'class' is already given (line 3)"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    class: C\n",
                      {":4:12: jobs[0].class:", "'type' is already given (line 3)"});
  ExpectErrorContains("jobs:\n  - name: a\n    cron: 0 * * * * ?\n",
                      {"conf/test.yaml:2:5: jobs[0]: missing 'class'", "or 'type'"});
}

TEST(ParseConfigTest, AtMostOneSchedule) {
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    fixed_delay: 1s\n    cron: 0 * * * * ?\n",
      {"conf/test.yaml:5:11: jobs[0].cron: a job has at most one of cron, fixed_rate and "
       "fixed_delay, and 'fixed_delay' is already given (line 4)"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    fixed_rate: 1s\n    fixed_delay: 1s\n",
                      {":5:18: jobs[0].fixed_delay:", "'fixed_rate' is already given"});
}

TEST(ParseConfigTest, EmptyCronMeansNoSchedule) {
  const Config config = ParseConfig(
      "jobs: [{name: a, type: T, cron: '${SHARDJOB_CONFIG_TEST_UNSET_CRON:-}', "
      "fixed_rate: 1s}]",
      kFile);
  EXPECT_EQ(config.jobs[0].cron, "");
  EXPECT_EQ(config.jobs[0].fixed_rate, milliseconds(1000));
}

TEST(ParseConfigTest, TimeZoneOnlyWithCron) {
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    fixed_rate: 1s\n    time_zone: UTC\n",
                      {"conf/test.yaml:5:16: jobs[0].time_zone: time_zone applies only to a cron "
                       "schedule"});
  const Config config =
      ParseConfig("jobs: [{name: a, type: T, cron: '0 0 * * * ?', time_zone: 'GMT+08:00'}]", kFile);
  EXPECT_EQ(config.jobs[0].time_zone, "GMT+08:00");
}

TEST(ParseConfigTest, BadCronAndTimeZoneCarryThePositionOfTheValue) {
  const std::string cron_error =
      ErrorOf("jobs:\n  - name: a\n    type: T\n    cron: \"0 0 25 * * ?\"\n");
  EXPECT_EQ(cron_error.rfind("conf/test.yaml:4:11: jobs[0].cron: ", 0), 0u) << cron_error;
  EXPECT_NE(cron_error.find("25"), std::string::npos) << cron_error;

  const std::string zone_error = ErrorOf(
      "jobs:\n  - name: a\n    type: T\n    cron: 0 * * * * ?\n    time_zone: Mars/Olympus\n");
  EXPECT_EQ(zone_error.rfind("conf/test.yaml:5:16: jobs[0].time_zone: ", 0), 0u) << zone_error;
  EXPECT_NE(zone_error.find("Mars/Olympus"), std::string::npos) << zone_error;
}

// ---- durations ----

TEST(ParseConfigTest, Durations) {
  const Config config = ParseConfig(
      "shutdown_grace: 0\nregistry:\n  zookeeper:\n    session_timeout: 2500\n"
      "    connect_timeout: 1h\njobs: [{name: a, type: T, fixed_rate: 250ms, jitter: 0s}]\n",
      kFile);
  EXPECT_EQ(config.shutdown_grace, milliseconds(0));
  EXPECT_EQ(config.registry.zookeeper.session_timeout, milliseconds(2500));
  EXPECT_EQ(config.registry.zookeeper.connect_timeout, milliseconds(3600000));
  EXPECT_EQ(config.jobs[0].fixed_rate, milliseconds(250));
  EXPECT_EQ(config.jobs[0].jitter, milliseconds(0));
}

TEST(ParseConfigTest, BadDurationsAreErrors) {
  ExpectErrorContains("shutdown_grace: 30 seconds\n",
                      {"conf/test.yaml:1:17: shutdown_grace: bad duration '30 seconds'",
                       "expected <n>ms, <n>s, <n>m, <n>h"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    fixed_rate: 1.5s\n",
                      {":4:17: jobs[0].fixed_rate: bad duration '1.5s'"});
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    fixed_delay: 0s\n",
                      {":4:18: jobs[0].fixed_delay: must be greater than 0, got '0s'"});
  ExpectErrorContains("registry:\n  zookeeper:\n    session_timeout: -5s\n",
                      {":3:22: registry.zookeeper.session_timeout: bad duration '-5s'"});
  ExpectErrorContains("jobs: [{name: a, type: T, jitter: [1s]}]",
                      {"jobs[0].jitter: expected a duration such as '15s', got a list"});
}

// ---- sharding item parameters ----

TEST(ParseConfigTest, ShardingItemParametersBothForms) {
  const Config config = ParseConfig(R"(jobs:
  - name: a
    type: T
    sharding_total_count: 3
    sharding_item_parameters: "0=Beijing, 1=Shanghai ,2=Guangzhou"
  - name: b
    type: T
    sharding_total_count: 3
    sharding_item_parameters:
      0: Beijing
      2: "x=1,y=2"
)",
                                    kFile);
  EXPECT_EQ(config.jobs[0].sharding_item_parameters,
            (std::map<int, std::string>{{0, "Beijing"}, {1, "Shanghai"}, {2, "Guangzhou"}}));
  EXPECT_EQ(config.jobs[1].sharding_item_parameters,
            (std::map<int, std::string>{{0, "Beijing"}, {2, "x=1,y=2"}}));
}

TEST(ParseConfigTest, BadShardingItemParameters) {
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    sharding_total_count: 2\n"
      "    sharding_item_parameters: 0=A,1\n",
      {"conf/test.yaml:5:31: jobs[0].sharding_item_parameters: bad entry '1'"});
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    sharding_total_count: 2\n"
      "    sharding_item_parameters: 0=A,2=C\n",
      {":5:31: jobs[0].sharding_item_parameters: sharding item 2 is out of range"});
  // The count is read first whatever the key order, so the range check does not depend on it.
  ExpectErrorContains("jobs:\n  - name: a\n    type: T\n    sharding_item_parameters: 0=A,1=B\n",
                      {":4:31: jobs[0].sharding_item_parameters: sharding item 1 is out of range",
                       "sharding_total_count is 1"});
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    sharding_total_count: 2\n"
      "    sharding_item_parameters: 0=A,0=B\n",
      {":5:31:", "sharding item 0 is given twice"});
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    sharding_total_count: 2\n"
      "    sharding_item_parameters:\n      0: A\n      x: B\n",
      {":7:7: jobs[0].sharding_item_parameters.x: sharding item 'x' is not an integer"});
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    sharding_total_count: 2\n"
      "    sharding_item_parameters:\n      0: A\n      5: B\n",
      {":7:7: jobs[0].sharding_item_parameters.5: sharding item 5 is out of range"});
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n    sharding_total_count: 2\n"
      "    sharding_item_parameters:\n      0: A\n      +0: B\n",
      {":7:7: jobs[0].sharding_item_parameters.+0: sharding item 0 is given twice"});
  ExpectErrorContains("jobs: [{name: a, type: T, sharding_item_parameters: [0=A]}]",
                      {"jobs[0].sharding_item_parameters: expected a string such as '0=A,1=B'"});
}

// ---- environment substitution ----

TEST(ParseConfigTest, EnvironmentSubstitution) {
  ScopedEnv shards("SHARDJOB_CONFIG_TEST_SHARDS", "6");
  ScopedEnv host("SHARDJOB_CONFIG_TEST_HOST", "box1");
  const Config config =
      ParseConfig(R"(instance_id: ${SHARDJOB_CONFIG_TEST_HOST}-${SHARDJOB_CONFIG_TEST_NOPE:-a}
http:
  token: ${SHARDJOB_CONFIG_TEST_NOPE:-}
jobs:
  - name: job-${SHARDJOB_CONFIG_TEST_HOST}
    type: SCRIPT
    sharding_total_count: ${SHARDJOB_CONFIG_TEST_SHARDS:-4}
    failover: ${SHARDJOB_CONFIG_TEST_NOPE:-true}
    fixed_rate: ${SHARDJOB_CONFIG_TEST_NOPE:-5}s
    props:
      script.command.line: "echo $$HOME costs $$5 and $1"
)",
                  kFile);
  EXPECT_EQ(config.instance_id, "box1-a");
  EXPECT_EQ(config.http.token, "");
  EXPECT_EQ(config.jobs[0].name, "job-box1");
  EXPECT_EQ(config.jobs[0].sharding_total_count, 6);
  EXPECT_TRUE(config.jobs[0].failover);
  EXPECT_EQ(config.jobs[0].fixed_rate, milliseconds(5000));
  EXPECT_EQ(config.jobs[0].props.at("script.command.line"), "echo $HOME costs $5 and $1");
}

TEST(ParseConfigTest, EnvironmentDefaultIsUsedBeforeTypeConversion) {
  const Config config = ParseConfig(
      "jobs: [{name: a, type: T, sharding_total_count: '${SHARDJOB_CONFIG_TEST_NOPE:-4}'}]", kFile);
  EXPECT_EQ(config.jobs[0].sharding_total_count, 4);
}

TEST(ParseConfigTest, UnsetEnvironmentVariableIsAnError) {
  ExpectErrorContains("http:\n  token: ${SHARDJOB_CONFIG_TEST_NOPE}\n",
                      {"conf/test.yaml:2:10: http.token: environment variable "
                       "'SHARDJOB_CONFIG_TEST_NOPE' is not set"});
}

TEST(ParseConfigTest, SubstitutedValueIsStillChecked) {
  ScopedEnv shards("SHARDJOB_CONFIG_TEST_SHARDS", "many");
  ExpectErrorContains(
      "jobs:\n  - name: a\n    type: T\n"
      "    sharding_total_count: ${SHARDJOB_CONFIG_TEST_SHARDS}\n",
      {":4:27: jobs[0].sharding_total_count: expected an integer, got 'many'"});
}

TEST(ParseConfigTest, KeysAreNotSubstituted) {
  ScopedEnv name("SHARDJOB_CONFIG_TEST_KEY", "log_level");
  ExpectErrorContains("${SHARDJOB_CONFIG_TEST_KEY}: info\n",
                      {":1:1: ${SHARDJOB_CONFIG_TEST_KEY}: unknown key"});
}

// ---- YAML itself ----

TEST(ParseConfigTest, YamlSyntaxErrorHasAPosition) {
  ExpectErrorContains("jobs:\n  - name: a\n    type: [T\n", {"conf/test.yaml:", "invalid YAML"});
  ExpectErrorContains("registry: x\n  type: y: z\n", {"conf/test.yaml:2:", "invalid YAML"});
}

TEST(ParseConfigTest, SeveralDocumentsAreAnError) {
  ExpectErrorContains("log_level: info\n---\nlog_level: debug\n",
                      {"conf/test.yaml:3:1:", "several YAML documents"});
}

TEST(ParseConfigTest, AnchorsAndAliasesWork) {
  const Config config = ParseConfig(R"(jobs:
  - &base
    name: a
    type: T
    props: &props {k: v}
  - name: b
    type: T
    props: *props
)",
                                    kFile);
  EXPECT_EQ(config.jobs[1].props, config.jobs[0].props);
}

// ---- files and plugin dirs ----

class LoadConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("shardjob_config_test_" + std::to_string(getpid()) + "_" + info->name());
    std::filesystem::create_directories(dir_ / "etc");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(LoadConfigFileTest, ResolvesRelativePluginDirsAgainstTheFilesDirectory) {
  const std::string path = Write("etc/shardjob.yaml",
                                 "plugins:\n  dirs: [../build/plugins, ./local/, /abs/dir, .]\n"
                                 "jobs: [{name: a, type: T}]\n");
  const Config config = LoadConfigFile(path);
  EXPECT_EQ(config.path, path);
  ASSERT_EQ(config.jobs.size(), 1u);
  const std::filesystem::path etc = (dir_ / "etc").lexically_normal();
  EXPECT_EQ(config.plugin_dirs,
            (std::vector<std::string>{(dir_ / "build/plugins").lexically_normal().string(),
                                      (etc / "local").string(), "/abs/dir", etc.string()}));
}

TEST_F(LoadConfigFileTest, ErrorsNameTheFile) {
  const std::string path = Write("bad.yaml", "log_level: info\nlog_levle: debug\n");
  try {
    LoadConfigFile(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ":2:1: log_levle: unknown key (did you mean 'log_level'?)");
  }
}

TEST_F(LoadConfigFileTest, MissingFileNamesTheFileAndTheReason) {
  const std::string path = (dir_ / "nope.yaml").string();
  try {
    LoadConfigFile(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot open: No such file or directory");
  }
}

TEST_F(LoadConfigFileTest, DirectoryIsAnError) {
  try {
    LoadConfigFile(dir_.string());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(dir_.string() + ": cannot read: Is a directory"),
              std::string::npos)
        << e.what();
  }
}

TEST(ParseConfigTest, RelativeConfigPathResolvesAgainstTheWorkingDirectory) {
  const Config config = ParseConfig("plugins: {dirs: [../plugins]}", "examples/a.yaml");
  EXPECT_EQ(config.plugin_dirs,
            std::vector<std::string>{(std::filesystem::current_path() / "plugins").string()});
  const Config bare = ParseConfig("plugins: {dirs: [p]}", "a.yaml");
  EXPECT_EQ(bare.plugin_dirs,
            std::vector<std::string>{(std::filesystem::current_path() / "p").string()});
}

TEST(SourceLocationTest, ToString) {
  EXPECT_EQ((SourceLocation{"a.yaml", 3, 7}).ToString(), "a.yaml:3:7");
  EXPECT_EQ((SourceLocation{"a.yaml", 0, 0}).ToString(), "a.yaml");
}

}  // namespace
}  // namespace shardjob::config
