#include "api/api_routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api/fake_history.h"
#include "api/history_query.h"
#include "api/request_parsing.h"
#include "http/router.h"
#include "operations/instance_commands.h"
#include "registry/embedded_registry.h"

namespace shardjob::api {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Pair;

const char kRoot[] = "/ns";

json JobConfig(const std::string& name, int shards = 3) {
  return json{{"name", name},
              {"type", "SCRIPT"},
              {"cron", "0/5 * * * * ?"},
              {"sharding_total_count", shards},
              {"props", {{"script.command.line", "/bin/true"}}}};
}

std::string HeaderValue(const http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

class ApiRoutesTest : public ::testing::Test {
 protected:
  ApiRoutesTest() : session_(store_.OpenSession()), operations_(*session_, kRoot) {
    EXPECT_EQ(registry::EnsurePath(*session_, kRoot), registry::Code::kOk);
  }

  // A router over the fixture's registry with `rules`; `history` may be null.
  void Build(AccessRules rules, spi::TraceHistory* history) {
    router_ = std::make_unique<http::Router>();
    LocalInstance local;
    local.instance_id = "this-host@1@00000001";
    local.plugins = [] {
      return json{
          {"loaded",
           json::array(
               {{{"kind", "executor"}, {"type", "SCRIPT"}, {"file", "libx.so"}, {"abi", 1}}})},
          {"refused", json::array()}};
    };
    local.rescan_plugins = [this] {
      ++rescans_;
      return json{{"loaded", json::array()}, {"refused", json::array()}};
    };
    AddApiRoutes(*router_, operations_, history, std::move(local), std::move(rules));
  }
  void Build() { Build(AccessRules{}, &history_); }

  // `target` may hold a query string (not decoded: tests write plain values).
  http::Response Call(const std::string& method, const std::string& target,
                      const std::string& body = "",
                      std::map<std::string, std::string> headers = {}) {
    http::Request request;
    request.method = method;
    const std::size_t question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) {
      std::string query = target.substr(question + 1);
      std::size_t start = 0;
      while (start <= query.size()) {
        std::size_t amp = query.find('&', start);
        if (amp == std::string::npos) amp = query.size();
        const std::string pair = query.substr(start, amp - start);
        const std::size_t equals = pair.find('=');
        if (!pair.empty()) {
          request.query[pair.substr(0, equals)] =
              equals == std::string::npos ? "" : pair.substr(equals + 1);
        }
        start = amp + 1;
      }
    }
    request.headers = std::move(headers);
    if (!body.empty() && !request.headers.count("content-type")) {
      request.headers["content-type"] = "application/json";
    }
    if (!request.headers.count("host")) request.headers["host"] = "127.0.0.1:8080";
    request.body = body;
    request.from_loopback = true;
    return router_->Route(std::move(request));
  }

  static json Body(const http::Response& response) {
    EXPECT_EQ(response.content_type, "application/json") << response.body;
    return json::parse(response.body);
  }

  // The error's code, checking the error document's shape.
  static std::string ErrorCode(const http::Response& response) {
    const json body = Body(response);
    if (!body.contains("error")) {
      ADD_FAILURE() << "not an error: " << response.body;
      return "<no error>";
    }
    EXPECT_EQ(body["error"]["status"], response.status) << response.body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << response.body;
    return body["error"]["code"].get<std::string>();
  }

  void CreateJob(const std::string& name, int shards = 3) {
    http::Response created = Call("POST", "/api/jobs", JobConfig(name, shards).dump());
    ASSERT_EQ(created.status, 201) << created.body;
  }

  // A live process registered for `job`.
  void AddLiveInstance(const std::string& id, const std::string& job) {
    ASSERT_EQ(registry::EnsurePath(*session_, std::string(kRoot) + "/instances"),
              registry::Code::kOk);
    ASSERT_EQ(session_->Create(operations::ProcessNodePath(kRoot, id),
                               json{{"host", "h"}, {"ip", "10.0.0.1"}, {"pid", 7}}.dump(),
                               registry::NodeMode::kEphemeral, nullptr),
              registry::Code::kOk);
    const std::string job_instances = std::string(kRoot) + "/jobs/" + job + "/instances";
    ASSERT_EQ(registry::EnsurePath(*session_, job_instances), registry::Code::kOk);
    ASSERT_EQ(session_->Create(job_instances + "/" + id, json{{"pid", 7}}.dump(),
                               registry::NodeMode::kEphemeral, nullptr),
              registry::Code::kOk);
  }

  registry::EmbeddedStore store_;
  std::unique_ptr<registry::Registry> session_;
  operations::ClusterOperations operations_;
  testing::FakeHistory history_;
  std::unique_ptr<http::Router> router_;
  int rescans_ = 0;
};

TEST_F(ApiRoutesTest, IndexListsEveryEndpoint) {
  Build();
  const http::Response response = Call("GET", "/api");
  ASSERT_EQ(response.status, 200);
  const json index = Body(response);
  EXPECT_EQ(index["instance"], "this-host@1@00000001");
  EXPECT_EQ(index["access"]["changes_allowed"], true);
  std::set<std::string> listed;
  for (const json& endpoint : index["endpoints"]) {
    listed.insert(endpoint["method"].get<std::string>() + " " +
                  endpoint["path"].get<std::string>());
    EXPECT_FALSE(endpoint["summary"].get<std::string>().empty());
  }
  for (const char* expected : {"GET /api/jobs",
                               "POST /api/jobs",
                               "GET /api/jobs/{job}",
                               "PUT /api/jobs/{job}",
                               "DELETE /api/jobs/{job}",
                               "POST /api/jobs/{job}/trigger",
                               "POST /api/jobs/{job}/enable",
                               "POST /api/jobs/{job}/disable",
                               "POST /api/jobs/{job}/shutdown",
                               "GET /api/jobs/{job}/shards",
                               "POST /api/jobs/{job}/shards/{item}/enable",
                               "POST /api/jobs/{job}/shards/{item}/disable",
                               "GET /api/jobs/{job}/dump",
                               "GET /api/instances",
                               "POST /api/instances/{id}/enable",
                               "POST /api/instances/{id}/disable",
                               "POST /api/instances/{id}/shutdown",
                               "GET /api/history/executions",
                               "GET /api/history/status",
                               "GET /api/plugins",
                               "POST /api/plugins/rescan",
                               "GET /api"}) {
    EXPECT_TRUE(listed.count(expected)) << expected;
  }
}

TEST_F(ApiRoutesTest, JobLifecycle) {
  Build();
  EXPECT_EQ(Body(Call("GET", "/api/jobs")), json::array());

  http::Response created = Call("POST", "/api/jobs", JobConfig("order-sync").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(HeaderValue(created, "Location"), "/api/jobs/order-sync");
  EXPECT_EQ(Body(created)["name"], "order-sync");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs", JobConfig("order-sync").dump())), "conflict");

  const json listed = Body(Call("GET", "/api/jobs"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "order-sync");

  http::Response got = Call("GET", "/api/jobs/order-sync");
  ASSERT_EQ(got.status, 200) << got.body;
  const json job = Body(got);
  EXPECT_EQ(job["config"]["sharding_total_count"], 3);
  const int version = job["config_version"].get<int>();
  EXPECT_EQ(HeaderValue(got, "ETag"), "\"" + std::to_string(version) + "\"");

  // A guarded update: the right version passes, the same one again is stale.
  json changed = JobConfig("order-sync", 4);
  http::Response updated = Call("PUT", "/api/jobs/order-sync", changed.dump(),
                                {{"if-match", "\"" + std::to_string(version) + "\""}});
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(Body(updated)["config"]["sharding_total_count"], 4);
  http::Response stale =
      Call("PUT", "/api/jobs/order-sync", changed.dump(), {{"if-match", std::to_string(version)}});
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(ErrorCode(stale), "conflict");
  EXPECT_EQ(ErrorCode(Call("PUT", "/api/jobs/order-sync", changed.dump(), {{"if-match", "soon"}})),
            "invalid");
  // Renaming through the body, unknown keys, wrong types: the config's own checks.
  EXPECT_EQ(ErrorCode(Call("PUT", "/api/jobs/order-sync", JobConfig("other").dump())), "invalid");
  json unknown = JobConfig("order-sync");
  unknown["shardingTotalCount"] = 3;
  EXPECT_EQ(ErrorCode(Call("PUT", "/api/jobs/order-sync", unknown.dump())), "invalid");
  json wrong_type = JobConfig("order-sync");
  wrong_type["sharding_total_count"] = "many";
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs", wrong_type.dump())), "invalid");
  EXPECT_EQ(ErrorCode(Call("PUT", "/api/jobs/missing", JobConfig("missing").dump())), "not_found");

  http::Response triggered = Call("POST", "/api/jobs/order-sync/trigger");
  ASSERT_EQ(triggered.status, 202) << triggered.body;
  EXPECT_THAT(Body(triggered)["fire"].get<std::string>(), ::testing::StartsWith("trigger-"));

  http::Response disabled = Call("POST", "/api/jobs/order-sync/disable");
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(Body(disabled)["disabled"], true);
  EXPECT_EQ(Body(Call("GET", "/api/jobs/order-sync"))["config"]["disabled"], true);
  ASSERT_EQ(Call("POST", "/api/jobs/order-sync/enable", "{}").status, 200);

  http::Response shards = Call("GET", "/api/jobs/order-sync/shards");
  ASSERT_EQ(shards.status, 200) << shards.body;
  EXPECT_EQ(Body(shards).size(), 4u);
  http::Response shard_off = Call("POST", "/api/jobs/order-sync/shards/2/disable");
  ASSERT_EQ(shard_off.status, 200) << shard_off.body;
  EXPECT_EQ(Body(shard_off), (json{{"job", "order-sync"}, {"item", 2}, {"disabled", true}}));
  EXPECT_EQ(Body(Call("GET", "/api/jobs/order-sync/shards"))[2]["disabled"], true);
  EXPECT_EQ(Call("POST", "/api/jobs/order-sync/shards/2/enable").status, 200);
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/order-sync/shards/9/enable")), "not_found");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/order-sync/shards/-1/enable")), "invalid");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/order-sync/shards/1x/enable")), "invalid");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/order-sync/shards/99999999999/enable")), "invalid");

  http::Response dump = Call("GET", "/api/jobs/order-sync/dump");
  ASSERT_EQ(dump.status, 200) << dump.body;
  EXPECT_TRUE(Body(dump).contains("/ns/jobs/order-sync/config")) << dump.body;

  // No instance runs it: deleting removes it at once.
  http::Response deleted = Call("DELETE", "/api/jobs/order-sync");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Body(deleted)["state"], "deleted");
  EXPECT_EQ(ErrorCode(Call("GET", "/api/jobs/order-sync")), "not_found");
  EXPECT_EQ(ErrorCode(Call("DELETE", "/api/jobs/order-sync")), "not_found");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/order-sync/trigger")), "not_found");
}

TEST_F(ApiRoutesTest, DeletingAJobWithLiveInstancesIsAccepted) {
  Build();
  CreateJob("report");
  AddLiveInstance("h@7@0000abcd", "report");
  http::Response deleted = Call("DELETE", "/api/jobs/report");
  ASSERT_EQ(deleted.status, 202) << deleted.body;
  EXPECT_EQ(Body(deleted)["state"], "stopping");
  EXPECT_EQ(Body(deleted)["instances"], json::array({"h@7@0000abcd"}));
}

TEST_F(ApiRoutesTest, ShutdownAndInstances) {
  Build();
  CreateJob("report");
  AddLiveInstance("h@7@0000abcd", "report");

  http::Response instances = Call("GET", "/api/instances");
  ASSERT_EQ(instances.status, 200) << instances.body;
  ASSERT_EQ(Body(instances).size(), 1u);
  EXPECT_EQ(Body(instances)[0]["id"], "h@7@0000abcd");

  http::Response all = Call("POST", "/api/jobs/report/shutdown");
  ASSERT_EQ(all.status, 202) << all.body;
  EXPECT_EQ(Body(all)["instances"], json::array({"h@7@0000abcd"}));
  http::Response one = Call("POST", "/api/jobs/report/shutdown", R"({"instance": "h@7@0000abcd"})");
  ASSERT_EQ(one.status, 202) << one.body;
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/report/shutdown", R"({"instance": "nobody"})")),
            "not_found");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/report/shutdown", R"({"instance": 7})")), "invalid");
  http::Response unknown_field =
      Call("POST", "/api/jobs/report/shutdown", R"({"instance": "h@7@0000abcd", "now": true})");
  EXPECT_EQ(unknown_field.status, 400);
  EXPECT_THAT(unknown_field.body, HasSubstr("unknown field 'now'"));
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/report/shutdown", "[]")), "invalid");

  http::Response off = Call("POST", "/api/instances/h@7@0000abcd/disable?job=report");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(Body(off)["jobs"], json::array({"report"}));
  EXPECT_EQ(Body(Call("GET", "/api/instances"))[0]["disabled_jobs"], json::array({"report"}));
  http::Response on = Call("POST", "/api/instances/h@7@0000abcd/enable");
  ASSERT_EQ(on.status, 200) << on.body;
  EXPECT_EQ(ErrorCode(Call("POST", "/api/instances/h@7@0000abcd/enable?job=missing")), "not_found");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/instances/h@7@0000abcd/enable?jobs=report")), "invalid");

  EXPECT_EQ(Call("POST", "/api/instances/h@7@0000abcd/shutdown").status, 202);
  EXPECT_EQ(ErrorCode(Call("POST", "/api/instances/gone@1@00000000/shutdown")), "not_found");
}

TEST_F(ApiRoutesTest, PathParametersMustBeNames) {
  Build();
  EXPECT_EQ(ErrorCode(Call("GET", "/api/jobs/..")), "invalid");
  EXPECT_EQ(ErrorCode(Call("GET", "/api/jobs/a b")), "invalid");
  EXPECT_EQ(ErrorCode(Call("GET", std::string("/api/jobs/a\0b", 12))), "invalid");
  EXPECT_EQ(ErrorCode(Call("GET", "/api/jobs/\xff\xfe")), "invalid");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/instances/../shutdown")), "invalid");
  // An encoded slash stays in its segment: "a%2Ftrigger" is one job name, not a trigger.
  http::Request request;
  request.method = "POST";
  request.path = "/api/jobs/a/trigger";
  request.raw_path = "/api/jobs/a%2Ftrigger";
  request.headers["host"] = "localhost:1";
  http::Response encoded = router_->Route(request);
  EXPECT_EQ(encoded.status, 405) << encoded.body;  // POST /api/jobs/{job} is not a route
}

TEST_F(ApiRoutesTest, UnknownPathsAndMethodsAnswerJson) {
  Build();
  http::Response missing = Call("GET", "/api/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ErrorCode(missing), "not_found");
  http::Response wrong_method = Call("PATCH", "/api/jobs");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(ErrorCode(wrong_method), "method_not_allowed");
  EXPECT_EQ(HeaderValue(wrong_method, "Allow"), "GET, POST");
  EXPECT_EQ(ErrorCode(Call("GET", "/api/jobs?verbose=1")), "invalid");
}

TEST_F(ApiRoutesTest, BodiesAreObjectsOfBoundedDepth) {
  Build();
  http::Response array = Call("POST", "/api/jobs", "[1, 2]");
  EXPECT_EQ(array.status, 400);
  EXPECT_THAT(array.body, HasSubstr("expected the job's config as the body, got array"));
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs", "")), "invalid");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs", "{\"name\": ")), "invalid");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs", "{\"name\": \"\xff\"}")), "invalid");
  http::Response deep = Call("POST", "/api/jobs", std::string(100000, '['));
  EXPECT_EQ(deep.status, 400);
  EXPECT_THAT(deep.body, HasSubstr("deeper than 64"));
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs", "{\"name\": 1e999}")), "invalid");
  EXPECT_EQ(ErrorCode(Call("POST", "/api/jobs/x/trigger", "{\"now\": 1}")), "invalid");
}

TEST_F(ApiRoutesTest, HistoryPagesAndFilters) {
  spi::ExecutionEvent execution;
  execution.id = "e1";
  execution.hostname = "h";
  execution.ip = "10.0.0.1";
  execution.task_id = "t1";
  execution.job_name = "report";
  execution.source = spi::ExecutionSource::kManualTrigger;
  execution.sharding_item = 2;
  execution.start_time_ms = 1763805605250;
  execution.complete_time_ms = 0;
  execution.fire_id = "trigger-0000000001";
  execution.instance_id = "h@7@0000abcd";
  execution.fencing_token = 12;
  execution.items_processed = 5;
  history_.executions = {execution, execution};
  history_.executions[1].id = "e2";
  history_.executions[1].sharding_item = 0;
  spi::StatusEvent status;
  status.id = "s1";
  status.job_name = "report";
  status.slave_id = "h@7@0000abcd";
  status.sharding_items = "[0, 2]";
  status.state = spi::TaskState::kRunning;
  status.creation_time_ms = 1763805605000;
  history_.statuses = {status};
  Build();

  http::Response page =
      Call("GET",
           "/api/history/executions?job=report&item=2&success=false&since=2025-11-22T10:00:00Z"
           "&until=1763805700000&offset=0&limit=10&instance=h@7@0000abcd&fire=f");
  ASSERT_EQ(page.status, 200) << page.body;
  const json body = Body(page);
  EXPECT_EQ(body["total"], 1);
  EXPECT_EQ(body["offset"], 0);
  EXPECT_EQ(body["limit"], 10);
  ASSERT_EQ(body["events"].size(), 1u);
  const json& event = body["events"][0];
  EXPECT_EQ(event["id"], "e1");
  EXPECT_EQ(event["source"], "MANUAL_TRIGGER");
  EXPECT_EQ(event["start_time_ms"], 1763805605250);
  EXPECT_EQ(event["start_time"], "2025-11-22T10:00:05.250Z");
  EXPECT_EQ(event["complete_time"], nullptr);
  EXPECT_EQ(event["fencing_token"], 12);
  EXPECT_EQ(event["items_processed"], 5);
  EXPECT_EQ(event.size(), 17u) << event.dump();
  const spi::ExecutionQuery& asked = history_.last_execution_query;
  EXPECT_EQ(asked.job_name, "report");
  EXPECT_EQ(asked.instance_id, "h@7@0000abcd");
  EXPECT_EQ(asked.fire_id, "f");
  EXPECT_EQ(asked.sharding_item, 2);
  EXPECT_EQ(asked.success, false);
  EXPECT_EQ(asked.since_ms, 1763805600000);
  EXPECT_EQ(asked.until_ms, 1763805700000);

  http::Response statuses =
      Call("GET", "/api/history/status?state=running&since=2025-11-22T11:00:00%2B01:00");
  // (the test client does not decode: an RFC 3339 offset arrives as written)
  EXPECT_EQ(statuses.status, 400);
  statuses = Call("GET", "/api/history/status?state=TASK_RUNNING&since=2025-11-22T11:00:00-01:00");
  ASSERT_EQ(statuses.status, 200) << statuses.body;
  EXPECT_EQ(history_.last_status_query.state, spi::TaskState::kRunning);
  EXPECT_EQ(history_.last_status_query.since_ms, 1763812800000);
  const json status_event = Body(statuses)["events"][0];
  EXPECT_EQ(status_event["state"], "TASK_RUNNING");
  EXPECT_EQ(status_event["slave_id"], "h@7@0000abcd");
  EXPECT_EQ(status_event["creation_time"], "2025-11-22T10:00:05Z");
  EXPECT_EQ(status_event.size(), 12u) << status_event.dump();
  EXPECT_EQ(history_.last_status_query.limit, 50u);

  for (const char* bad :
       {"/api/history/executions?limit=1001", "/api/history/executions?limit=12abc",
        "/api/history/executions?limit=-1", "/api/history/executions?offset=99999999999999999999",
        "/api/history/executions?item=x", "/api/history/executions?success=yes",
        "/api/history/executions?since=yesterday",
        "/api/history/executions?since=2025-13-01T00:00:00Z",
        "/api/history/executions?state=running", "/api/history/executions?since=5&until=4",
        "/api/history/status?state=sleeping", "/api/history/status?item=1",
        "/api/history/status?job=../x"}) {
    http::Response refused = Call("GET", bad);
    EXPECT_EQ(refused.status, 400) << bad << ": " << refused.body;
    EXPECT_EQ(ErrorCode(refused), "invalid") << bad;
  }

  history_.answer = spi::Status::Unavailable("database down");
  http::Response down = Call("GET", "/api/history/executions");
  EXPECT_EQ(down.status, 503);
  EXPECT_THAT(down.body, HasSubstr("database down"));
}

TEST_F(ApiRoutesTest, HistoryWithoutATraceStoreIs404) {
  Build(AccessRules{}, nullptr);
  http::Response response = Call("GET", "/api/history/executions");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(ErrorCode(response), "no_trace_store");
  EXPECT_EQ(ErrorCode(Call("GET", "/api/history/status")), "no_trace_store");
}

TEST_F(ApiRoutesTest, Plugins) {
  Build();
  http::Response plugins = Call("GET", "/api/plugins");
  ASSERT_EQ(plugins.status, 200);
  EXPECT_EQ(Body(plugins)["loaded"][0]["type"], "SCRIPT");
  EXPECT_EQ(Body(plugins)["instance"], "this-host@1@00000001");
  EXPECT_EQ(Call("POST", "/api/plugins/rescan").status, 200);
  EXPECT_EQ(rescans_, 1);
}

TEST_F(ApiRoutesTest, ATokenGuardsEveryCall) {
  Build(AccessRules{"s3cret", false}, &history_);
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api"},
                                                        {"GET", "/api/jobs"},
                                                        {"POST", "/api/jobs/x/trigger"},
                                                        {"GET", "/api/nothing"}}) {
    http::Response missing = Call(method, path);
    EXPECT_EQ(missing.status, 401) << method << " " << path;
    EXPECT_EQ(ErrorCode(missing), "unauthorized");
    EXPECT_THAT(HeaderValue(missing, "WWW-Authenticate"), ::testing::StartsWith("Bearer"));
    EXPECT_EQ(Call(method, path, "", {{"authorization", "Bearer s3cre"}}).status, 401);
    EXPECT_EQ(Call(method, path, "", {{"authorization", "Bearer s3cret2"}}).status, 401);
    EXPECT_EQ(Call(method, path, "", {{"authorization", "Basic s3cret"}}).status, 401);
    EXPECT_EQ(Call(method, path, "", {{"authorization", "s3cret"}}).status, 401);
  }
  EXPECT_EQ(Call("GET", "/api/jobs", "", {{"authorization", "Bearer s3cret"}}).status, 200);
  http::Response created = Call("POST", "/api/jobs", JobConfig("report").dump(),
                                {{"authorization", "bearer s3cret"}, {"host", "10.0.0.9:80"}});
  EXPECT_EQ(created.status, 201) << created.body;
}

TEST_F(ApiRoutesTest, WithoutATokenOverTheNetworkTheApiIsClosed) {
  Build(AccessRules{"", false}, &history_);
  // Reads too: a job's config holds its props.
  http::Response read = Call("GET", "/api/jobs", "", {{"host", "scheduler.example:8080"}});
  EXPECT_EQ(read.status, 403);
  EXPECT_EQ(Call("GET", "/api/jobs/report/dump").status, 403);
  http::Response refused = Call("POST", "/api/jobs", JobConfig("report").dump());
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(ErrorCode(refused), "forbidden");
  EXPECT_THAT(refused.body, HasSubstr("set http.token to use the API over the network"));
  EXPECT_EQ(Call("DELETE", "/api/jobs/report").status, 403);
  EXPECT_EQ(Call("PUT", "/api/jobs/report", JobConfig("report").dump()).status, 403);
}

TEST_F(ApiRoutesTest, OnLoopbackWithoutATokenCrossSiteRequestsAreRefused) {
  Build(AccessRules{"", true}, &history_);
  // Same origin (a console served by this endpoint) and no origin (curl) pass.
  EXPECT_EQ(Call("POST", "/api/jobs", JobConfig("a").dump(),
                 {{"origin", "http://127.0.0.1:8080"}, {"host", "127.0.0.1:8080"}})
                .status,
            201);
  EXPECT_EQ(Call("POST", "/api/jobs", JobConfig("b").dump()).status, 201);
  // Another origin, even another port of this host, does not.
  for (const char* origin :
       {"http://evil.example", "http://127.0.0.1:8081", "https://localhost:8080", "null"}) {
    http::Response refused =
        Call("POST", "/api/jobs/a/trigger", "", {{"origin", origin}, {"host", "127.0.0.1:8080"}});
    EXPECT_EQ(refused.status, 403) << origin;
    EXPECT_EQ(ErrorCode(refused), "forbidden");
  }
  EXPECT_EQ(Call("GET", "/api/jobs", "", {{"origin", "http://evil.example"}}).status, 403);
  // A name rebound to 127.0.0.1 is not a loopback name.
  http::Response rebound =
      Call("GET", "/api/jobs", "",
           {{"host", "evil.example:8080"}, {"origin", "http://evil.example:8080"}});
  EXPECT_EQ(rebound.status, 403);
  EXPECT_THAT(rebound.body, HasSubstr("not a loopback name"));
  EXPECT_EQ(Call("GET", "/api/jobs", "", {{"host", "localhost:8080"}}).status, 200);
  EXPECT_EQ(Call("GET", "/api/jobs", "", {{"host", "[::1]:8080"}}).status, 200);
  EXPECT_EQ(Call("GET", "/api/jobs", "", {{"host", "127.1.2.3"}}).status, 200);
  // A form post (what a page can send without a preflight) is refused.
  for (const char* type :
       {"application/x-www-form-urlencoded", "text/plain", "multipart/form-data"}) {
    http::Response form =
        Call("POST", "/api/jobs", JobConfig("c").dump(), {{"content-type", type}});
    EXPECT_EQ(form.status, 415) << type;
    EXPECT_EQ(ErrorCode(form), "unsupported_media_type");
  }
  EXPECT_EQ(Call("POST", "/api/jobs", JobConfig("c").dump(),
                 {{"content-type", "Application/JSON; charset=utf-8"}})
                .status,
            201);
}

TEST_F(ApiRoutesTest, AHandlerThatThrowsIsA500NamingTheRoute) {
  router_ = std::make_unique<http::Router>();
  LocalInstance local;
  local.plugins = []() -> json { throw std::runtime_error("plugin table broke"); };
  AddApiRoutes(*router_, operations_, &history_, std::move(local), AccessRules{});
  http::Response response = Call("GET", "/api/plugins");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(ErrorCode(response), "internal");
  EXPECT_THAT(response.body, HasSubstr("GET /api/plugins failed: plugin table broke"));
  local.plugins = nullptr;
}

TEST(RequestParsingTest, TimesAndNumbers) {
  EXPECT_EQ(ParseTime("0", "t"), 0);
  EXPECT_EQ(ParseTime("1970-01-01T00:00:00Z", "t"), 0);
  EXPECT_EQ(ParseTime("2025-11-22t10:00:05.25z", "t"), 1763805605250);
  EXPECT_EQ(ParseTime("2025-11-22 10:00:05.123456789+00:00", "t"), 1763805605123);
  EXPECT_EQ(ParseTime("2024-02-29T00:00:00Z", "t"), 1709164800000);
  EXPECT_THROW(ParseTime("2023-02-29T00:00:00Z", "t"), RequestError);
  EXPECT_THROW(ParseTime("2025-11-22T10:00:05", "t"), RequestError);
  EXPECT_THROW(ParseTime("2025-11-22T24:00:00Z", "t"), RequestError);
  EXPECT_THROW(ParseTime("1969-12-31T23:59:59Z", "t"), RequestError);
  EXPECT_THROW(ParseTime("99999999999999999999", "t"), RequestError);
  EXPECT_THROW(ParseTime("-5", "t"), RequestError);
  EXPECT_THROW(ParseTime("", "t"), RequestError);
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(1763805605250), "2025-11-22T10:00:05.250Z");
  EXPECT_EQ(ParseUnsigned("18446744073709551615", "n", UINT64_MAX), UINT64_MAX);
  EXPECT_THROW(ParseUnsigned("18446744073709551616", "n", UINT64_MAX), RequestError);
  EXPECT_THROW(ParseUnsigned("+1", "n", 10), RequestError);
  EXPECT_THROW(ParseUnsigned(" 1", "n", 10), RequestError);
  EXPECT_THROW(ParseUnsigned("11", "n", 10), RequestError);
  EXPECT_EQ(ParseTaskState("dropped"), spi::TaskState::kDropped);
}

}  // namespace
}  // namespace shardjob::api
