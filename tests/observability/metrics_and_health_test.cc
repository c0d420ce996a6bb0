// /metrics and /healthz of a running instance, read by real clients: promtool checks the text, a
// real Prometheus server scrapes it and answers a query, and /healthz follows a real ZooKeeper
// session as the server stops and starts.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shardjob/shardjob.h"
#include "support/child_process.h"
#include "support/free_port.h"
#include "support/http_client.h"
#include "support/test_support.h"
#include "support/zookeeper_server.h"

namespace shardjob {
namespace {

using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::HttpGet;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;

// The value of one sample of the text format, e.g. Sample(text, "shardjob_tasks_total",
// "{job=\"a\",outcome=\"failed\"}"); -1 when it is absent.
double Sample(const std::string& text, const std::string& name, const std::string& labels = "") {
  const std::string prefix = name + labels + " ";
  for (std::size_t at = text.find(prefix); at != std::string::npos;
       at = text.find(prefix, at + 1)) {
    if (at != 0 && text[at - 1] != '\n') continue;
    return std::stod(text.substr(at + prefix.size()));
  }
  return -1;
}

class MetricsTest : public ::testing::Test {
 protected:
  std::string WriteConfig(const std::string& jobs,
                          const std::string& registry = "registry: {type: embedded}\n") {
    std::string path = dir_.File("shardjob.yaml");
    WriteFile(path, registry +
                        "plugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR ", " SHARDJOB_APP_FIXTURE_DIR
                        "]\n"
                        "http: {listen: \"127.0.0.1:0\"}\n"
                        "shutdown_grace: 200ms\nlog_level: warn\njobs:\n" +
                        jobs);
    return path;
  }

  std::string Metrics(const Instance& instance) {
    testing::HttpReply reply = HttpGet(instance.HttpAddress(), "/metrics");
    EXPECT_EQ(reply.status, 200);
    EXPECT_THAT(reply.headers, HasSubstr("text/plain; version=0.0.4"));
    return reply.body;
  }

  // promtool's verdict on the text: its exit code and what it said.
  std::pair<int, std::string> Promtool(const std::string& text) {
    const std::string file = dir_.File("metrics.txt");
    WriteFile(file, text);
    ChildProcess promtool({"/bin/sh", "-c", "exec promtool check metrics < " + file});
    int code = promtool.Wait();
    return {code, promtool.output()};
  }

  TempDir dir_;
  std::string record_ = dir_.File("record.txt");
};

TEST_F(MetricsTest, TheMetricsAgreeWithTheJobsCountersAndPassPromtool) {
  auto instance =
      Instance::Start(WriteConfig("  - name: sync\n"
                                  "    class: RECORDING_JOB\n"
                                  "    sharding_total_count: 3\n"
                                  "    props: {record.file: " +
                                  record_ + ", fail.items: \"2\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("sync").local_items.size() == 3; }));
  instance->Trigger("sync");
  instance->Trigger("sync");
  ASSERT_TRUE(WaitUntil([&] {
    JobStats stats = instance->Stats("sync");
    return stats.tasks_succeeded + stats.tasks_failed == 6;
  }));
  const std::string text = Metrics(*instance);

  auto [code, said] = Promtool(text);
  EXPECT_EQ(code, 0) << said;
  EXPECT_EQ(said, "");  // not even a lint warning

  EXPECT_EQ(Sample(text, "shardjob_tasks_total", R"({job="sync",outcome="succeeded"})"), 4);
  EXPECT_EQ(Sample(text, "shardjob_tasks_total", R"({job="sync",outcome="failed"})"), 2);
  EXPECT_EQ(Sample(text, "shardjob_fires_total", R"({job="sync",source="MANUAL_TRIGGER"})"), 2);
  EXPECT_EQ(Sample(text, "shardjob_fires_total", R"({job="sync",source="NORMAL_TRIGGER"})"), 0);
  EXPECT_EQ(
      Sample(text, "shardjob_task_duration_seconds_count", R"({job="sync",outcome="failed"})"), 2);
  EXPECT_EQ(Sample(text, "shardjob_task_duration_seconds_bucket",
                   R"({job="sync",outcome="succeeded",le="+Inf"})"),
            4);
  EXPECT_EQ(Sample(text, "shardjob_shards_assigned", R"({job="sync"})"), 3);
  EXPECT_EQ(Sample(text, "shardjob_leader", R"({job="sync"})"), 1);
  EXPECT_EQ(Sample(text, "shardjob_registry_session_state", R"({state="connected"})"), 1);
  EXPECT_GT(Sample(text, "shardjob_registry_requests_total"), 0);
  // Shards 0 and 1 succeeded here; shard 2 never did, so it has no timestamp.
  EXPECT_GT(
      Sample(text, "shardjob_shard_last_success_timestamp_seconds", R"({job="sync",shard="1"})"),
      1.7e9);
  EXPECT_EQ(
      Sample(text, "shardjob_shard_last_success_timestamp_seconds", R"({job="sync",shard="2"})"),
      -1);
  EXPECT_EQ(Sample(text, "shardjob_trace_queue_depth"), -1);  // no tracer, no trace metrics
}

TEST_F(MetricsTest, WithATracerTheTraceBufferIsMeasured) {
  std::string path = dir_.File("traced.yaml");
  WriteFile(path, "registry: {type: embedded}\nplugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR
                  ", " SHARDJOB_APP_FIXTURE_DIR
                  "]\nhttp: {listen: \"127.0.0.1:0\"}\ntracing: {type: LOG}\nlog_level: warn\n"
                  "jobs:\n  - name: sync\n    class: RECORDING_JOB\n    props: {record.file: " +
                      record_ + "}\n");
  auto instance = Instance::Start(path);
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("sync").local_items.size() == 1; }));
  instance->Trigger("sync");
  // STAGING, RUNNING?, the task's start and end, FINISHED: at least four events.
  ASSERT_TRUE(WaitUntil([&] { return instance->Traces().written >= 4; }));
  const std::string text = Metrics(*instance);
  // Events may still arrive between the scrape and the read of the counters.
  const double written = Sample(text, "shardjob_trace_events_written_total");
  EXPECT_GE(written, 4);
  EXPECT_LE(written, instance->Traces().written);
  EXPECT_EQ(Sample(text, "shardjob_trace_store_up"), 1);
  EXPECT_EQ(Sample(text, "shardjob_trace_events_dropped_total", R"({reason="overflow"})"), 0);
  EXPECT_GE(Sample(text, "shardjob_trace_queue_depth"), 0);
  EXPECT_EQ(Promtool(text).first, 0);
}

// A streaming DATAFLOW job (the example plugin) reports every item it processed.
TEST_F(MetricsTest, DataflowItemsAreCounted) {
  auto instance =
      Instance::Start(WriteConfig("  - name: archive\n"
                                  "    class: EXAMPLE_ORDER_ARCHIVE\n"
                                  "    sharding_total_count: 2\n"
                                  "    props: {streaming.process: \"true\", "
                                  "example.backlog: \"25\", example.batch.size: "
                                  "\"10\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("archive").local_items.size() == 2; }));
  instance->Trigger("archive");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("archive").tasks_succeeded == 2; }));
  EXPECT_EQ(Sample(Metrics(*instance), "shardjob_items_processed_total", R"({job="archive"})"), 50);
}

TEST_F(MetricsTest, ScheduledFiresFillTheLatenessHistogram) {
  auto instance =
      Instance::Start(WriteConfig("  - name: tick\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 200ms\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  // Scheduled fires, not tasks: a fire found missed at start runs as a catch-up (MISFIRE), which
  // the lateness histogram leaves out.
  ASSERT_TRUE(WaitUntil([&] {
    return Sample(Metrics(*instance), "shardjob_fire_lateness_seconds_count", R"({job="tick"})") >=
           3;
  }));
  const std::string text = Metrics(*instance);
  const double count = Sample(text, "shardjob_fire_lateness_seconds_count", R"({job="tick"})");
  EXPECT_GE(count, 3);
  EXPECT_EQ(Sample(text, "shardjob_fire_lateness_seconds_bucket", R"({job="tick",le="+Inf"})"),
            count);
  EXPECT_GE(Sample(text, "shardjob_fire_lateness_seconds_sum", R"({job="tick"})"), 0);
  EXPECT_GE(Sample(text, "shardjob_fires_total", R"({job="tick",source="NORMAL_TRIGGER"})"), 3);
}

TEST_F(MetricsTest, WithoutAnHttpSectionNothingListens) {
  std::string path = dir_.File("quiet.yaml");
  WriteFile(path, "registry: {type: embedded}\nplugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR
                  ", " SHARDJOB_APP_FIXTURE_DIR "]\nlog_level: warn\njobs: []\n");
  auto instance = Instance::Start(path);
  EXPECT_EQ(instance->HttpAddress(), "");
}

TEST_F(MetricsTest, AnAddressInUseStopsTheStartNamingIt) {
  auto first = Instance::Start(WriteConfig("[]\n"));
  std::string path = dir_.File("second.yaml");
  WriteFile(path, "registry: {type: embedded}\nplugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR
                  "]\nhttp: {listen: \"" +
                      first->HttpAddress() + "\"}\nlog_level: warn\njobs: []\n");
  try {
    Instance::Start(path);
    FAIL() << "a second instance listened on " << first->HttpAddress();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot listen on '" + first->HttpAddress() + "'"));
  }
}

TEST_F(MetricsTest, HealthzFollowsTheZookeeperSession) {
  testing::ZookeeperServer zookeeper;
  auto instance = Instance::Start(WriteConfig(
      "  - name: sync\n    class: RECORDING_JOB\n    sharding_total_count: 2\n"
      "    props: {record.file: " +
          record_ + "}\n",
      "registry:\n  type: zookeeper\n  zookeeper: {servers: \"" + zookeeper.connect_string() +
          "\", namespace: healthz, session_timeout: 4s, connect_timeout: 10s}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("sync").local_items.size() == 2; }));
  testing::HttpReply reply = HttpGet(instance->HttpAddress(), "/healthz");
  ASSERT_EQ(reply.status, 200) << reply.body;
  nlohmann::json health = nlohmann::json::parse(reply.body);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["registry"]["type"], "zookeeper");
  EXPECT_EQ(health["registry"]["session"], "connected");
  EXPECT_EQ(health["instance"], instance->id());
  ASSERT_EQ(health["jobs"].size(), 1u);
  EXPECT_EQ(health["jobs"][0]["name"], "sync");
  EXPECT_EQ(health["jobs"][0]["leader"], true);
  EXPECT_EQ(health["jobs"][0]["shards"], nlohmann::json::array({0, 1}));

  zookeeper.Stop();
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(instance->HttpAddress(), "/healthz").status == 503; },
                        std::chrono::seconds(20)));
  reply = HttpGet(instance->HttpAddress(), "/healthz");
  health = nlohmann::json::parse(reply.body);
  EXPECT_EQ(health["status"], "unavailable");
  EXPECT_NE(health["registry"]["session"], "connected");
  EXPECT_EQ(Sample(Metrics(*instance), "shardjob_registry_session_state", R"({state="connected"})"),
            0);

  zookeeper.Restart();
  EXPECT_TRUE(WaitUntil([&] { return HttpGet(instance->HttpAddress(), "/healthz").status == 200; },
                        std::chrono::seconds(30)));
}

// A real Prometheus server scrapes the instance; its query API gives the value back.
class ScopedPrometheus {
 public:
  ScopedPrometheus(const TempDir& dir, const std::string& target)
      : port_(testing::FreeLoopbackPort()) {
    const std::string config = dir.File("prometheus.yml");
    // honor_labels: the metrics' own `job` label (the shardjob job) is kept as it is, rather
    // than renamed to exported_job beside the scrape job's.
    WriteFile(config,
              "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
              "scrape_configs:\n"
              "  - job_name: shardjob\n"
              "    honor_labels: true\n"
              "    static_configs: [{targets: [\"" +
                  target + "\"]}]\n");
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/usr/bin/prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir.File("tsdb"),
        "--web.listen-address=" + address(), "--log.level=warn"});
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const ChildProcess& process() const { return *process_; }

  // The first sample's value of an instant query, or -1.
  double Query(const std::string& expression) const {
    std::string encoded;
    for (unsigned char c : expression) {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      encoded += std::isalnum(c) || c == '_' ? std::string(1, static_cast<char>(c)) : hex;
    }
    testing::HttpReply reply = HttpGet(address(), "/api/v1/query?query=" + encoded);
    if (reply.status != 200) return -1;
    nlohmann::json answer = nlohmann::json::parse(reply.body, nullptr, false);
    if (answer.is_discarded() || answer["status"] != "success") return -1;
    const nlohmann::json& result = answer["data"]["result"];
    if (result.empty()) return -1;
    return std::stod(result[0]["value"][1].get<std::string>());
  }

 private:
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

TEST_F(MetricsTest, ARealPrometheusScrapesTheInstanceAndAnswersAQuery) {
  auto instance =
      Instance::Start(WriteConfig("  - name: sync\n"
                                  "    class: RECORDING_JOB\n"
                                  "    sharding_total_count: 2\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("sync").local_items.size() == 2; }));
  instance->Trigger("sync");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("sync").tasks_succeeded == 2; }));

  ScopedPrometheus prometheus(dir_, instance->HttpAddress());
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(prometheus.address(), "/-/ready").status == 200; },
                        std::chrono::seconds(30)))
      << prometheus.process().output();
  EXPECT_TRUE(WaitUntil(
      [&] {
        return prometheus.Query(R"(shardjob_tasks_total{job="sync",outcome="succeeded"})") == 2;
      },
      std::chrono::seconds(30)))
      << prometheus.process().output();
  EXPECT_EQ(prometheus.Query(R"(up{job="shardjob"})"), 1);  // the target is healthy
  EXPECT_EQ(prometheus.Query(R"(sum(shardjob_fires_total{job="sync"}))"), 1);
}

}  // namespace
}  // namespace shardjob
