#include "api/api_routes.h"

#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/access_rules.h"
#include "api/history_query.h"
#include "api/request_error.h"
#include "api/request_parsing.h"

namespace shardjob::api {
namespace {

using nlohmann::json;
using operations::OperationError;

// Text the API did not write (job configs, names from the path) may hold bytes that are not
// UTF-8: they are replaced rather than failing the answer.
http::Response Answer(int status, const json& value) {
  return http::Response::Json(status,
                              value.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

http::Response FromOperationError(const OperationError& error) {
  switch (error.kind()) {
    case OperationError::Kind::kInvalid:
      return http::Response::JsonError(400, "invalid", error.what());
    case OperationError::Kind::kNotFound:
      return http::Response::JsonError(404, "not_found", error.what());
    case OperationError::Kind::kConflict:
      return http::Response::JsonError(409, "conflict", error.what());
    case OperationError::Kind::kUnavailable:
      return http::Response::JsonError(503, "unavailable", error.what());
  }
  return http::Response::JsonError(500, "internal", error.what());
}

http::Response FromStatus(const spi::Status& status) {
  switch (status.code()) {
    case spi::Status::Code::kInvalidArgument:
      return http::Response::JsonError(400, "invalid", "trace store: " + status.message());
    case spi::Status::Code::kNotFound:
      return http::Response::JsonError(404, "not_found", "trace store: " + status.message());
    case spi::Status::Code::kUnavailable:
    case spi::Status::Code::kTimedOut:
      return http::Response::JsonError(503, "unavailable", "trace store: " + status.message());
    default:
      return http::Response::JsonError(500, "internal", "trace store: " + status.ToString());
  }
}

const char* TypeName(const json& value) { return value.type_name(); }

// The body, which must be a JSON object (`what` names it in the refusal).
json ObjectBody(const http::Request& request, const std::string& what) {
  json body = ParseJsonBody(request.body);
  if (body.is_null()) throw Invalid("expected a body: " + what);
  if (!body.is_object()) {
    throw Invalid("expected " + what + " as the body, got " + std::string(TypeName(body)) +
                  " (a JSON object is expected)");
  }
  return body;
}

// A small optional body: nothing, or an object with only the `allowed` keys.
json SmallBody(const http::Request& request, std::initializer_list<std::string_view> allowed) {
  json body = ParseJsonBody(request.body);
  if (body.is_null()) return json::object();
  std::string expected;
  for (std::string_view key : allowed)
    expected += (expected.empty() ? "" : ", ") + std::string(key);
  if (!body.is_object()) {
    throw Invalid(std::string("expected no body or a JSON object") +
                  (expected.empty() ? "" : " with " + expected) + ", got " + TypeName(body));
  }
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) {
      throw Invalid(
          "unknown field '" + key.substr(0, 64) + "' in the body" +
          (expected.empty() ? " (this call takes none)" : " (expected: " + expected + ")"));
    }
  }
  return body;
}

int ParseItem(const std::string& text) {
  return static_cast<int>(
      ParseUnsigned(text, "item", static_cast<std::uint64_t>(std::numeric_limits<int>::max())));
}

// If-Match: "<config_version>" (quoted as an ETag, or bare); "*" or absent: no guard.
std::optional<std::int32_t> ExpectedVersion(const http::Request& request) {
  auto found = request.headers.find("if-match");
  if (found == request.headers.end()) return std::nullopt;
  std::string value = found->second;
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  if (value == "*") return std::nullopt;
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return static_cast<std::int32_t>(ParseUnsigned(
      value, "If-Match", static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())));
}

struct Endpoint {
  std::string method;
  std::string path;
  std::string summary;
};

class Api : public std::enable_shared_from_this<Api> {
 public:
  Api(operations::ClusterOperations& operations, spi::TraceHistory* history, LocalInstance local,
      AccessRules rules)
      : operations_(operations),
        history_(history),
        local_(std::move(local)),
        rules_(std::move(rules)) {}

  void Register(http::Router& router);

 private:
  using Body = std::function<http::Response(const http::Request&)>;

  void Add(http::Router& router, const char* method, const std::string& path,
           const std::string& summary, Body body);

  http::Response Index() const;
  http::Response Plugins(bool rescan) const;
  http::Response Executions(const http::Request& request) const;
  http::Response StatusHistory(const http::Request& request) const;

  operations::ClusterOperations& operations_;
  spi::TraceHistory* history_;
  LocalInstance local_;
  AccessRules rules_;
  std::vector<Endpoint> endpoints_;
};

void Api::Add(http::Router& router, const char* method, const std::string& path,
              const std::string& summary, Body body) {
  endpoints_.push_back(Endpoint{method, path, summary});
  std::string route = std::string(method) + " " + path;
  router.Add(method, path,
             [api = shared_from_this(), route = std::move(route),
              body = std::move(body)](const http::Request& request) -> http::Response {
               if (std::optional<http::Response> refusal = CheckAccess(api->rules_, request)) {
                 return *std::move(refusal);
               }
               try {
                 return body(request);
               } catch (const RequestError& e) {
                 return http::Response::JsonError(e.status(), e.code(), e.what());
               } catch (const OperationError& e) {
                 return FromOperationError(e);
               } catch (const std::exception& e) {
                 spdlog::error("api: {} ({}) failed: {}", route, request.path, e.what());
                 return http::Response::JsonError(500, "internal", route + " failed: " + e.what());
               } catch (...) {
                 spdlog::error("api: {} ({}) failed with a non-standard exception", route,
                               request.path);
                 return http::Response::JsonError(500, "internal", route + " failed");
               }
             });
}

void Api::Register(http::Router& router) {
  operations::ClusterOperations& ops = operations_;
  const auto job_of = [](const http::Request& request) -> const std::string& {
    return CheckJobName(request.params.at("job"));
  };
  const auto instance_of = [](const http::Request& request) -> const std::string& {
    return CheckInstanceId(request.params.at("id"));
  };

  Add(router, "GET", "/api", "this index of the endpoints", [this](const http::Request& r) {
    CheckQueryKeys(r.query, {});
    return Index();
  });

  // ---- jobs
  Add(router, "GET", "/api/jobs", "every job with its status", [&ops](const http::Request& r) {
    CheckQueryKeys(r.query, {});
    return Answer(200, ops.ListJobs());
  });
  Add(router, "POST", "/api/jobs", "creates a job from its config (body: the config object)",
      [&ops](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        json created = ops.CreateJob(ObjectBody(r, "the job's config"));
        http::Response response = Answer(201, created);
        if (created.is_object() && created.contains("name") && created["name"].is_string()) {
          response.headers.emplace_back("Location",
                                        "/api/jobs/" + created["name"].get<std::string>());
        }
        return response;
      });
  Add(router, "GET", "/api/jobs/{job}", "one job: its status, config and config_version",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        json job = ops.GetJob(job_of(r));
        http::Response response = Answer(200, job);
        if (job.is_object() && job.contains("config_version") &&
            job["config_version"].is_number_integer()) {
          response.headers.emplace_back(
              "ETag", "\"" + std::to_string(job["config_version"].get<std::int64_t>()) + "\"");
        }
        return response;
      });
  Add(router, "PUT", "/api/jobs/{job}",
      "replaces a job's config (body: the config; If-Match: config_version guards it)",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        const std::string& job = job_of(r);
        const std::optional<std::int32_t> expected = ExpectedVersion(r);
        return Answer(200, ops.UpdateJob(job, ObjectBody(r, "the job's config"), expected));
      });
  Add(router, "DELETE", "/api/jobs/{job}",
      "deletes a job: 200 when gone, 202 while its instances stop",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        SmallBody(r, {});
        json result = ops.DeleteJob(job_of(r));
        const bool deleted = result.is_object() && result.value("state", "") == "deleted";
        return Answer(deleted ? 200 : 202, result);
      });
  Add(router, "POST", "/api/jobs/{job}/trigger", "fires the job once now",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        SmallBody(r, {});
        const std::string& job = job_of(r);
        const std::string fire = ops.TriggerJob(job);
        return Answer(202, json{{"job", job}, {"fire", fire}});
      });
  for (const bool disable : {false, true}) {
    Add(router, "POST", disable ? "/api/jobs/{job}/disable" : "/api/jobs/{job}/enable",
        disable ? "disables the job: it keeps its instances but runs no shard"
                : "enables the job again",
        [&ops, job_of, disable](const http::Request& r) {
          CheckQueryKeys(r.query, {});
          SmallBody(r, {});
          const std::string& job = job_of(r);
          ops.SetJobDisabled(job, disable);
          return Answer(200, json{{"job", job}, {"disabled", disable}});
        });
  }
  Add(router, "POST", "/api/jobs/{job}/shutdown",
      "asks the job's instances (or body {\"instance\": id}'s) to stop running it until they "
      "restart",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        const json body = SmallBody(r, {"instance"});
        std::string instance;
        if (body.contains("instance")) {
          if (!body["instance"].is_string()) {
            throw Invalid(std::string("instance: expected a string, got ") +
                          TypeName(body["instance"]));
          }
          instance = CheckInstanceId(body["instance"].get<std::string>());
        }
        const std::string& job = job_of(r);
        const std::vector<std::string> asked = ops.ShutdownJob(job, instance);
        return Answer(202, json{{"job", job}, {"instances", asked}});
      });
  Add(router, "GET", "/api/jobs/{job}/shards", "the job's shards: owner, progress, lease",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        return Answer(200, ops.ListShards(job_of(r)));
      });
  for (const bool disable : {false, true}) {
    Add(router, "POST",
        disable ? "/api/jobs/{job}/shards/{item}/disable" : "/api/jobs/{job}/shards/{item}/enable",
        disable ? "disables one shard" : "enables one shard again",
        [&ops, job_of, disable](const http::Request& r) {
          CheckQueryKeys(r.query, {});
          SmallBody(r, {});
          const std::string& job = job_of(r);
          const int item = ParseItem(r.params.at("item"));
          ops.SetShardDisabled(job, item, disable);
          return Answer(200, json{{"job", job}, {"item", item}, {"disabled", disable}});
        });
  }
  Add(router, "GET", "/api/jobs/{job}/dump", "every registry node of the job (a snapshot)",
      [&ops, job_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        return Answer(200, ops.DumpJob(job_of(r)));
      });

  // ---- instances
  Add(router, "GET", "/api/instances", "every live process and the jobs it runs",
      [&ops](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        return Answer(200, ops.ListInstances());
      });
  for (const bool disable : {false, true}) {
    Add(router, "POST", disable ? "/api/instances/{id}/disable" : "/api/instances/{id}/enable",
        disable ? "disables the instance for every job (or ?job=J): its shards move elsewhere"
                : "enables the instance again (for every job, or ?job=J)",
        [&ops, instance_of, disable](const http::Request& r) {
          CheckQueryKeys(r.query, {"job"});
          SmallBody(r, {});
          const std::string& instance = instance_of(r);
          std::string job;
          if (auto found = r.query.find("job"); found != r.query.end()) {
            job = CheckJobName(found->second);
          }
          const std::vector<std::string> changed = ops.SetInstanceDisabled(instance, disable, job);
          return Answer(200,
                        json{{"instance", instance}, {"disabled", disable}, {"jobs", changed}});
        });
  }
  Add(router, "POST", "/api/instances/{id}/shutdown", "asks a live process to stop gracefully",
      [&ops, instance_of](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        SmallBody(r, {});
        const std::string& instance = instance_of(r);
        ops.ShutdownInstance(instance);
        return Answer(202, json{{"instance", instance}, {"state", "shutdown requested"}});
      });

  // ---- history
  Add(router, "GET", "/api/history/executions",
      "executions (?job=&instance=&fire=&item=&success=&since=&until=&offset=&limit=)",
      [this](const http::Request& r) { return Executions(r); });
  Add(router, "GET", "/api/history/status",
      "status changes (?job=&instance=&fire=&state=&since=&until=&offset=&limit=)",
      [this](const http::Request& r) { return StatusHistory(r); });

  // ---- this process
  Add(router, "GET", "/api/plugins", "the plugins this process loaded and refused",
      [this](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        return Plugins(false);
      });
  Add(router, "POST", "/api/plugins/rescan", "looks for new plugin libraries now",
      [this](const http::Request& r) {
        CheckQueryKeys(r.query, {});
        SmallBody(r, {});
        return Plugins(true);
      });

  router.SetFallback("/api", [api = shared_from_this()](const http::Request& request, int status,
                                                        const std::string& message,
                                                        const std::vector<std::string>& allowed) {
    if (std::optional<http::Response> refusal = CheckAccess(api->rules_, request)) {
      return *std::move(refusal);
    }
    http::Response response =
        http::Response::JsonError(status, status == 405 ? "method_not_allowed" : "not_found",
                                  message + " (GET /api lists the endpoints)");
    if (!allowed.empty()) {
      std::string allow;
      for (const std::string& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
      response.headers.emplace_back("Allow", allow);
    }
    return response;
  });
}

http::Response Api::Index() const {
  json endpoints = json::array();
  for (const Endpoint& endpoint : endpoints_) {
    endpoints.push_back(
        json{{"method", endpoint.method}, {"path", endpoint.path}, {"summary", endpoint.summary}});
  }
  const bool writes = !rules_.token.empty() || rules_.loopback_only;
  return Answer(200, json{{"service", "shardjob"},
                          {"instance", local_.instance_id},
                          {"access",
                           {{"token_required", !rules_.token.empty()},
                            {"loopback_only", rules_.loopback_only},
                            {"changes_allowed", writes}}},
                          {"trace_history", history_ != nullptr},
                          {"endpoints", std::move(endpoints)}});
}

http::Response Api::Plugins(bool rescan) const {
  const auto& source = rescan ? local_.rescan_plugins : local_.plugins;
  json result;
  if (source) {
    result = source();
  } else if (rescan) {
    throw RequestError(503, "unavailable", "this process has no plugin loader to rescan");
  } else {
    result = json{{"loaded", json::array()}, {"refused", json::array()}};
  }
  if (result.is_object()) result["instance"] = local_.instance_id;
  return Answer(200, result);
}

http::Response Api::Executions(const http::Request& request) const {
  const spi::ExecutionQuery query = ParseExecutionQuery(request.query);
  if (history_ == nullptr) {
    throw RequestError(404, "no_trace_store",
                       "no trace history: tracing.type names no store that can be read back");
  }
  spi::ExecutionPage page;
  const spi::Status status = history_->QueryExecutions(query, &page);
  if (!status.ok()) return FromStatus(status);
  return Answer(200, ExecutionPageJson(query, page));
}

http::Response Api::StatusHistory(const http::Request& request) const {
  const spi::StatusQuery query = ParseStatusQuery(request.query);
  if (history_ == nullptr) {
    throw RequestError(404, "no_trace_store",
                       "no trace history: tracing.type names no store that can be read back");
  }
  spi::StatusPage page;
  const spi::Status status = history_->QueryStatus(query, &page);
  if (!status.ok()) return FromStatus(status);
  return Answer(200, StatusPageJson(query, page));
}

}  // namespace

void AddApiRoutes(http::Router& router, operations::ClusterOperations& operations,
                  spi::TraceHistory* history, LocalInstance local, AccessRules rules) {
  auto api = std::make_shared<Api>(operations, history, std::move(local), std::move(rules));
  api->Register(router);
}

}  // namespace shardjob::api
