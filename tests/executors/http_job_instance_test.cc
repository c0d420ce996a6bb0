// End to end: an Instance on the embedded registry loads the HTTP executor from its .so and runs
// a `type: HTTP` job against a local server.

#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "local_http_server.h"
#include "shardjob/shardjob.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using testing::LocalHttpServer;
using testing::PercentDecode;
using testing::QueryParameter;
using testing::ReceivedRequest;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;

TEST(HttpJobInstanceTest, TriggeredFireCallsTheServerOncePerShard) {
  LocalHttpServer server;
  TempDir dir;
  const std::string config = dir.File("shardjob.yaml");
  WriteFile(config,
            "registry: {type: embedded}\n"
            "plugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR
            "]\n"
            "shutdown_grace: 200ms\nlog_level: warn\n"
            "jobs:\n"
            "  - name: ping\n"
            "    type: HTTP\n"
            "    sharding_total_count: 3\n"
            "    sharding_item_parameters: \"0=a,1=b,2=c\"\n"
            "    props:\n"
            "      http.uri: " +
                server.Url("/ping") +
                "\n"
                "      http.method: GET\n");
  auto instance = Instance::Start(config);
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("ping").local_items.size() == 3; }));
  instance->Trigger("ping");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("ping").tasks_succeeded == 3; }));
  instance->Stop();

  std::set<int> items;
  std::set<std::string> fires;
  for (const ReceivedRequest& request : server.requests()) {
    const nlohmann::json header = nlohmann::json::parse(request.Header("shardingContext"));
    EXPECT_EQ(PercentDecode(QueryParameter(request.target, "shardingContext")),
              request.Header("shardingContext"));
    EXPECT_EQ(header["jobName"], "ping");
    EXPECT_EQ(header["shardingTotalCount"], 3);
    const int item = header["shardingItem"];
    EXPECT_EQ(header["shardingParameter"], std::string(1, static_cast<char>('a' + item)));
    EXPECT_TRUE(items.insert(item).second) << "shard " << item << " called twice";
    fires.insert(header["fireId"].get<std::string>());
  }
  EXPECT_EQ(items, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(fires.size(), 1u);
  EXPECT_EQ(instance->Stats("ping").tasks_failed, 0u);
}

TEST(HttpJobInstanceTest, ServerErrorCountsAsFailedTask) {
  LocalHttpServer server(testing::Reply{503, "busy", {}, false});
  TempDir dir;
  const std::string config = dir.File("shardjob.yaml");
  WriteFile(config,
            "registry: {type: embedded}\n"
            "plugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR
            "]\n"
            "shutdown_grace: 200ms\nlog_level: error\n"
            "jobs:\n"
            "  - name: ping\n"
            "    type: HTTP\n"
            "    props: {http.uri: \"" +
                server.Url("/ping") + "\", http.method: POST}\n");
  auto instance = Instance::Start(config);
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("ping").local_items.size() == 1; }));
  instance->Trigger("ping");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("ping").tasks_failed == 1; }));
  instance->Stop();
  EXPECT_EQ(instance->Stats("ping").tasks_succeeded, 0u);
  EXPECT_EQ(server.requests().size(), 1u);  // max_retries defaults to 0
}

}  // namespace
}  // namespace shardjob
