#include "operations/cluster_operations.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "config/job_config_json.h"
#include "coordination/registry_json.h"
#include "cron/cron_expression.h"
#include "instance/instance_id.h"
#include "operations/instance_commands.h"

namespace shardjob::operations {

OperationError::OperationError(Kind kind, const std::string& message)
    : std::runtime_error(message), kind_(kind) {}

namespace {

using coordination::IntField;
using coordination::ListField;
using coordination::ParseObject;
using coordination::StringField;
using Json = nlohmann::json;
using Kind = OperationError::Kind;
using registry::Code;
using registry::NodeMode;
using registry::Stat;

// Read-modify-write loops give up after this many version conflicts in a row.
constexpr int kMaxWriteAttempts = 10;
// DumpJob lists at most this many nodes.
constexpr std::size_t kDumpLimit = 10000;
// DeleteJob removes at most this many nodes: a job of 100,000 shards has about 300,000.
constexpr std::size_t kDeleteLimit = 1000000;
// ListJobs (and GetJob) check at most this many shard leases in all (one request each); jobs past
// the budget report running_shards null.
constexpr int kListJobsLeaseBudget = 2000;

[[noreturn]] void Fail(Kind kind, const std::string& message) {
  throw OperationError(kind, message);
}

// Throws unless `code` is kOk. `what` says what was being done ("reading /ns/jobs/a/config").
void Expect(Code code, const std::string& what) {
  if (code == Code::kOk) return;
  std::string message = what + ": " + registry::CodeName(code);
  switch (code) {
    case Code::kNoNode:
      Fail(Kind::kNotFound, what + ": no such node");
    case Code::kNodeExists:
    case Code::kBadVersion:
      Fail(Kind::kConflict, message);
    case Code::kConnectionLoss:
    case Code::kSessionExpired:
    case Code::kClosed:
      Fail(Kind::kUnavailable, "the registry did not answer while " + message);
    case Code::kNoAuth:
      Fail(Kind::kUnavailable,
           "the registry refused access (NOAUTH: registry.zookeeper.digest is not the one the "
           "namespace was created with) while " +
               message);
    default:
      Fail(Kind::kInvalid, message);
  }
}

// The node's data, or nullopt when it does not exist.
std::optional<std::string> ReadOptional(registry::Registry& registry, const std::string& path,
                                        Stat* stat = nullptr) {
  std::string data;
  Code code = registry.Get(path, &data, stat, nullptr);
  if (code == Code::kNoNode) return std::nullopt;
  Expect(code, "reading " + path);
  return data;
}

// The node's children, or none when it does not exist.
std::vector<std::string> ChildrenOptional(registry::Registry& registry, const std::string& path) {
  std::vector<std::string> children;
  Code code = registry.GetChildren(path, &children, nullptr);
  if (code == Code::kNoNode) return {};
  Expect(code, "listing " + path);
  std::sort(children.begin(), children.end());
  return children;
}

bool Exists(registry::Registry& registry, const std::string& path) {
  Code code = registry.Exists(path, nullptr, nullptr);
  if (code == Code::kNoNode) return false;
  Expect(code, "checking " + path);
  return true;
}

void RequireJobName(const std::string& job) {
  if (!config::IsValidJobName(job)) {
    Fail(Kind::kInvalid,
         "bad job name '" + job +
             "': expected at most 255 letters, digits, '_', '.' and '-' (not '.' or '..')");
  }
}

void RequireInstanceId(const std::string& id) {
  if (!instance::IsValidInstanceId(id)) {
    Fail(Kind::kInvalid, "bad instance id '" + id +
                             "': expected at most 200 letters, digits and '._@:-' (not '.' or "
                             "'..')");
  }
}

// Node data as a JSON string: invalid UTF-8 bytes become U+FFFD, so that dumping never throws.
std::string ValidUtf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80           ? 1
                         : (c >> 5) == 0x6  ? 2
                         : (c >> 4) == 0xe  ? 3
                         : (c >> 3) == 0x1e ? 4
                                            : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; ok && k < length; ++k) {
      ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    }
    if (ok && length > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF.
      std::uint32_t cp = c & (0xff >> (length + 1));
      for (std::size_t k = 1; k < length; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
      }
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[length] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out.append(text, i, length);
      i += length;
    } else {
      out.append("\xef\xbf\xbd");
      ++i;
    }
  }
  return out;
}

// Every string value (not keys) with `$` doubled, so that the config loader's `${VAR}`
// substitution leaves a config from the API as it was sent: it must not read this process's
// environment.
void EscapeDollars(Json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find('$') == std::string::npos) return;
    std::string escaped;
    for (char c : text) {
      escaped.push_back(c);
      if (c == '$') escaped.push_back('$');
    }
    value = escaped;
  } else if (value.is_structured()) {
    for (Json& element : value) EscapeDollars(element);
  }
}

// The inverse, for showing a stored config (JobConfigToJson doubles every `$`).
void UnescapeDollars(Json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find('$') == std::string::npos) return;
    std::string plain;
    for (std::size_t i = 0; i < text.size(); ++i) {
      plain.push_back(text[i]);
      if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$') ++i;
    }
    value = plain;
  } else if (value.is_structured()) {
    for (Json& element : value) UnescapeDollars(element);
  }
}

std::string FormatUtc(std::chrono::system_clock::time_point instant) {
  return cctz::format("%Y-%m-%dT%H:%M:%SZ",
                      std::chrono::time_point_cast<std::chrono::seconds>(instant),
                      cctz::utc_time_zone());
}

struct Disabled {
  std::vector<int> shards;
  std::vector<std::string> instances;
};

Disabled ParseDisabled(const std::optional<std::string>& data) {
  Disabled disabled;
  if (!data) return disabled;
  Json parsed = ParseObject(*data);
  disabled.shards = ListField<int>(parsed, "shards");
  disabled.instances = ListField<std::string>(parsed, "instances");
  return disabled;
}

template <typename T>
bool Contains(const std::vector<T>& values, const T& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

template <typename T>
void SortUnique(std::vector<T>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

// True when the stored assignment is what the leader would keep for these enabled instances:
// every enabled item exactly once, owned by an enabled live instance, the total current, and
// every enabled live instance listed (the built-in strategies list every instance, with an empty
// list when it gets nothing; a new instance missing from the map has not been sharded in yet).
bool AssignmentCovers(const std::optional<std::string>& text,
                      const std::vector<std::string>& enabled, const std::vector<int>& disabled,
                      int total) {
  if (!text) return false;
  Json stored = ParseObject(*text);
  if (!stored.contains("total") || stored["total"] != total) return false;
  auto instances = stored.find("instances");
  if (instances == stored.end() || !instances->is_object()) return false;
  std::vector<int> seen;
  for (auto& [instance, items] : instances->items()) {
    if (!Contains(enabled, instance) || !items.is_array()) return false;
    for (const Json& item : items) {
      if (!item.is_number_integer()) return false;
      seen.push_back(item.get<int>());
    }
  }
  for (const std::string& id : enabled) {
    if (!instances->contains(id)) return false;
  }
  std::vector<int> expected;
  for (int item = 0; item < total; ++item) {
    if (!Contains(disabled, item)) expected.push_back(item);
  }
  std::sort(seen.begin(), seen.end());
  return seen == expected;
}

// item -> owner, from the stored assignment.
std::map<int, std::string> Owners(const std::optional<std::string>& text) {
  std::map<int, std::string> owners;
  if (!text) return owners;
  Json stored = ParseObject(*text);
  auto instances = stored.find("instances");
  if (instances == stored.end() || !instances->is_object()) return owners;
  for (auto& [instance, items] : instances->items()) {
    if (!items.is_array()) continue;
    for (const Json& item : items) {
      if (item.is_number_integer()) owners.emplace(item.get<int>(), instance);
    }
  }
  return owners;
}

// What one job looks like now: the summary ListJobs shows.
struct JobView {
  Json summary;
  std::optional<std::string> config_text;  // nullopt: no config node
  Stat config_stat;
  std::optional<config::JobConfig> config;  // nullopt: none, or it does not validate
};

std::string LeaderOf(registry::Registry& registry, const std::string& job_path) {
  std::vector<std::string> candidates = ChildrenOptional(registry, job_path + "/leader");
  // Sequence numbers are zero-padded: the lowest sorts first. Bounded by the listing.
  for (const std::string& name : candidates) {
    if (name.rfind("candidate-", 0) != 0) continue;
    std::optional<std::string> data = ReadOptional(registry, job_path + "/leader/" + name);
    if (data) return *data;  // else gone since the listing: its successor leads
  }
  return "";
}

JobView ViewJob(registry::Registry& registry, const std::string& job_path, const std::string& name,
                int* lease_budget) {
  JobView view;
  Json& out = view.summary;
  out = {{"name", name}};
  view.config_text = ReadOptional(registry, job_path + "/config", &view.config_stat);
  std::string config_error;
  if (view.config_text) {
    try {
      view.config =
          config::JobConfigFromJson(*view.config_text, "registry:" + job_path + "/config");
    } catch (const std::exception& e) {
      config_error = e.what();
    }
  }
  std::vector<std::string> live = ChildrenOptional(registry, job_path + "/instances");
  Disabled disabled = ParseDisabled(ReadOptional(registry, job_path + "/disabled"));
  std::vector<std::string> enabled;
  for (const std::string& id : live) {
    std::optional<std::string> data = ReadOptional(registry, job_path + "/instances/" + id);
    if (!data) continue;  // gone since the listing
    // As the coordinator reads it: only an explicit `"disabled": true` disables.
    Json flag = ParseObject(*data)["disabled"];
    if (flag.is_boolean() && flag.get<bool>()) continue;
    if (Contains(disabled.instances, id)) continue;
    enabled.push_back(id);
  }
  std::optional<std::string> assignment = ReadOptional(registry, job_path + "/assignment");

  bool job_disabled = false;
  if (view.config) {
    job_disabled = view.config->disabled;
  } else if (view.config_text) {
    Json flag = ParseObject(*view.config_text)["disabled"];  // tolerant: it does not validate
    job_disabled = flag.is_boolean() && flag.get<bool>();
  }
  int total = view.config ? view.config->ShardCount() : 0;
  std::string status;
  if (!view.config_text) {
    status = "DELETING";
  } else if (live.empty()) {
    status = "CRASHED";
  } else if (job_disabled || enabled.empty()) {
    status = "DISABLED";
  } else if (view.config && !AssignmentCovers(assignment, enabled, disabled.shards, total)) {
    status = "SHARDING_FLAG";
  } else {
    status = "OK";
  }
  out["status"] = status;
  out["disabled"] = job_disabled;
  out["shard_count"] = total;
  out["instances"] = live.size();
  std::string leader = LeaderOf(registry, job_path);
  out["leader"] = leader.empty() ? Json(nullptr) : Json(ValidUtf8(leader));
  out["schedule"] = nullptr;
  out["next_fire"] = nullptr;
  out["next_fire_ms"] = nullptr;
  out["description"] = view.config ? view.config->description : std::string();
  out["executor"] = view.config ? (view.config->executor_type.empty() ? view.config->job_class
                                                                      : view.config->executor_type)
                                : std::string();
  if (view.config) {
    const config::JobConfig& job = *view.config;
    if (!job.cron.empty()) {
      out["schedule"] = "cron " + job.cron + " (" +
                        (job.time_zone.empty() ? std::string("local") : job.time_zone) + ")";
      try {
        auto next = cron::CronExpression::Parse(job.cron).NextAfter(
            std::chrono::system_clock::now(), cron::LoadTimeZone(job.time_zone));
        if (next && !job.disabled) {
          out["next_fire"] = FormatUtc(*next);
          out["next_fire_ms"] =
              std::chrono::duration_cast<std::chrono::milliseconds>(next->time_since_epoch())
                  .count();
        }
      } catch (const std::exception& e) {
        config_error = e.what();  // validated already; only a zone database change gets here
      }
    } else if (job.fixed_rate) {
      out["schedule"] = "fixed_rate " + std::to_string(job.fixed_rate->count()) + "ms";
    } else if (job.fixed_delay) {
      out["schedule"] = "fixed_delay " + std::to_string(job.fixed_delay->count()) + "ms";
    }
  }
  // Leases: one request per shard.
  if (lease_budget == nullptr || *lease_budget >= total) {
    if (lease_budget != nullptr) *lease_budget -= total;
    int running = 0;
    for (int item = 0; item < total; ++item) {
      if (Exists(registry, job_path + "/shards/" + std::to_string(item) + "/lease")) ++running;
    }
    out["running_shards"] = running;
  } else {
    out["running_shards"] = nullptr;
  }
  if (!config_error.empty()) out["config_error"] = config_error;
  return view;
}

}  // namespace

ClusterOperations::ClusterOperations(registry::Registry& registry, std::string root, JobCheck check)
    : registry_(registry), root_(std::move(root)), check_(std::move(check)) {}

std::string ClusterOperations::JobPath(const std::string& job) const {
  RequireJobName(job);
  return root_ + "/jobs/" + job;
}

// ---- jobs

nlohmann::json ClusterOperations::ListJobs() const {
  Json jobs = Json::array();
  int lease_budget = kListJobsLeaseBudget;
  for (const std::string& name : ChildrenOptional(registry_, root_ + "/jobs")) {
    std::string job_path = root_ + "/jobs/" + name;
    JobView view = ViewJob(registry_, job_path, name, &lease_budget);
    // Deleted entirely since the listing: not a job any more.
    if (!view.config_text && !Exists(registry_, job_path)) continue;
    jobs.push_back(std::move(view.summary));
  }
  return jobs;
}

nlohmann::json ClusterOperations::GetJob(const std::string& job) const {
  std::string job_path = JobPath(job);
  int lease_budget = kListJobsLeaseBudget;
  JobView view = ViewJob(registry_, job_path, job, &lease_budget);
  if (!view.config_text) {
    if (!Exists(registry_, job_path)) Fail(Kind::kNotFound, "no job '" + job + "'");
    view.summary["config"] = nullptr;
    view.summary["config_version"] = nullptr;
    return view.summary;
  }
  Json config = Json::parse(*view.config_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_object()) {
    UnescapeDollars(config);
  } else {
    config = nullptr;
  }
  view.summary["config"] = config;
  view.summary["config_version"] = view.config_stat.version;
  return view.summary;
}

namespace {

// The loader's message without what only applies to the text it was given: the line and
// column in the one-line document built from the request, and the "jobs[0]." of the wrapper
// list. "config of job 'a': shardng_total_count: unknown key (did you mean ...)".
std::string ConfigMessage(const std::string& message, const std::string& origin) {
  if (message.rfind(origin, 0) != 0) return message;
  std::string_view rest(message);
  rest.remove_prefix(origin.size());
  auto skip_number = [&rest] {
    if (rest.empty() || rest[0] != ':') return false;
    std::size_t digits = 1;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 1) return false;
    rest.remove_prefix(digits);
    return true;
  };
  if (skip_number()) skip_number();
  if (rest.rfind(": ", 0) == 0) rest.remove_prefix(2);
  for (std::string_view prefix : {"jobs[0].", "jobs[0]: "}) {
    if (rest.rfind(prefix, 0) == 0) rest.remove_prefix(prefix.size());
  }
  return origin + ": " + std::string(rest);
}

// The config as the loader reads it, then the job check. Throws kInvalid.
config::JobConfig ValidateConfig(Json body, const JobCheck& check) {
  EscapeDollars(body);
  std::string name = body.contains("name") && body["name"].is_string()
                         ? body["name"].get<std::string>()
                         : std::string();
  std::string origin = name.empty() ? "config" : "config of job '" + name + "'";
  config::JobConfig job;
  try {
    job = config::JobConfigFromJson(body.dump(), origin);
  } catch (const config::ConfigError& e) {
    Fail(Kind::kInvalid, ConfigMessage(e.what(), origin));
  } catch (const std::exception& e) {  // JSON that cannot be dumped (invalid UTF-8)
    Fail(Kind::kInvalid, origin + ": " + e.what());
  }
  if (check) {
    std::vector<std::string> problems;
    try {
      problems = check(job);
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
    if (!problems.empty()) {
      std::string message = "job '" + job.name + "' cannot run:";
      for (const std::string& problem : problems) message += "\n  " + problem;
      Fail(Kind::kInvalid, message);
    }
  }
  return job;
}

}  // namespace

nlohmann::json ClusterOperations::CreateJob(const nlohmann::json& config) {
  if (!config.is_object()) Fail(Kind::kInvalid, "a job config must be a JSON object");
  config::JobConfig job = ValidateConfig(config, check_);
  std::string job_path = JobPath(job.name);
  std::string text = config::JobConfigToJson(job);
  // The job's folder must be new: a job of the same name that is being deleted still has its
  // shards' states (committed fires, checkpoints) and its instances are still stopping.
  Expect(registry::EnsurePath(registry_, root_ + "/jobs"), "creating " + root_ + "/jobs");
  Code code = registry_.Create(job_path, "", NodeMode::kPersistent, nullptr);
  if (code == Code::kNodeExists) {
    if (Exists(registry_, job_path + "/config")) {
      Fail(Kind::kConflict, "job '" + job.name + "' exists already");
    }
    Fail(Kind::kConflict, "job '" + job.name +
                              "' is still being deleted (its instances are stopping); create it "
                              "again once it is gone, or delete it again to remove what is left");
  }
  Expect(code, "creating " + job_path);
  code = registry_.Create(job_path + "/config", text, NodeMode::kPersistent, nullptr);
  if (code == Code::kNodeExists) Fail(Kind::kConflict, "job '" + job.name + "' exists already");
  Expect(code, "creating " + job_path + "/config");
  return GetJob(job.name);
}

nlohmann::json ClusterOperations::UpdateJob(const std::string& job, const nlohmann::json& config,
                                            std::optional<std::int32_t> expected_version) {
  std::string job_path = JobPath(job);
  if (!config.is_object()) Fail(Kind::kInvalid, "a job config must be a JSON object");
  Json body = config;
  if (body.contains("name")) {
    if (!body["name"].is_string() || body["name"].get<std::string>() != job) {
      Fail(Kind::kInvalid, "the config names job " + body["name"].dump() + ", not '" + job +
                               "': a job cannot be renamed");
    }
  } else {
    body["name"] = job;
  }
  config::JobConfig parsed = ValidateConfig(std::move(body), check_);
  Code code = registry_.Set(job_path + "/config", config::JobConfigToJson(parsed),
                            expected_version.value_or(registry::kAnyVersion), nullptr);
  if (code == Code::kNoNode) Fail(Kind::kNotFound, "no job '" + job + "'");
  if (code == Code::kBadVersion) {
    Fail(Kind::kConflict, "job '" + job + "' changed since version " +
                              std::to_string(expected_version.value_or(-1)) +
                              ": read it again and retry");
  }
  Expect(code, "writing " + job_path + "/config");
  return GetJob(job);
}

nlohmann::json ClusterOperations::DeleteJob(const std::string& job) {
  std::string job_path = JobPath(job);
  Code code = registry_.Delete(job_path + "/config", registry::kAnyVersion);
  if (code == Code::kNoNode) {
    // Deleted already (its instances were still stopping): finish the cleanup if they are gone.
    if (!Exists(registry_, job_path)) Fail(Kind::kNotFound, "no job '" + job + "'");
  } else {
    Expect(code, "deleting " + job_path + "/config");
  }
  auto stopping = [&](std::vector<std::string> instances) {
    return Json{{"job", job}, {"state", "stopping"}, {"instances", std::move(instances)}};
  };
  std::vector<std::string> instances = ChildrenOptional(registry_, job_path + "/instances");
  if (!instances.empty()) return stopping(std::move(instances));

  // A node that gained a child since its listing (an instance registering again) stops the
  // cleanup: that instance leaves once it sees no config, and the last one out removes the rest.
  code = registry::DeleteTree(registry_, job_path, kDeleteLimit);
  if (code == Code::kNotEmpty)
    return stopping(ChildrenOptional(registry_, job_path + "/instances"));
  if (code == Code::kBadArguments) {
    Fail(Kind::kConflict, "job '" + job + "' has more than " + std::to_string(kDeleteLimit) +
                              " nodes: remove them by hand");
  }
  Expect(code, "deleting " + job_path);
  return Json{{"job", job}, {"state", "deleted"}, {"instances", Json::array()}};
}

std::string ClusterOperations::TriggerJob(const std::string& job) {
  std::string job_path = JobPath(job);
  if (!Exists(registry_, job_path + "/config")) Fail(Kind::kNotFound, "no job '" + job + "'");
  Expect(registry::EnsurePath(registry_, job_path + "/triggers"),
         "creating " + job_path + "/triggers");
  std::string created;
  Code code = registry_.Create(job_path + "/triggers/trigger-", "", NodeMode::kPersistentSequential,
                               &created);
  Expect(code, "writing a trigger of job '" + job + "'");
  return created.substr(created.rfind('/') + 1);
}

void ClusterOperations::SetJobDisabled(const std::string& job, bool disabled) {
  std::string path = JobPath(job) + "/config";
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    Stat stat;
    std::optional<std::string> text = ReadOptional(registry_, path, &stat);
    if (!text) Fail(Kind::kNotFound, "no job '" + job + "'");
    Json stored = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!stored.is_object()) {
      Fail(Kind::kInvalid, "job '" + job + "': its stored config is not a JSON object");
    }
    if (stored.value("disabled", Json()) == Json(disabled)) return;
    stored["disabled"] = disabled;
    Code code = registry_.Set(path, stored.dump(), stat.version, nullptr);
    if (code == Code::kBadVersion) continue;  // changed since the read: read again
    if (code == Code::kNoNode) Fail(Kind::kNotFound, "no job '" + job + "'");
    Expect(code, "writing " + path);
    return;
  }
  Fail(Kind::kConflict, "job '" + job + "': its config kept changing; gave up after " +
                            std::to_string(kMaxWriteAttempts) + " attempts");
}

namespace {

void SendCommand(registry::Registry& registry, const std::string& root, const std::string& id,
                 const InstanceCommand& command) {
  std::string folder = CommandsPath(root, id);
  Expect(registry::EnsurePath(registry, folder), "creating " + folder);
  Code code = registry.Create(folder + "/command-", FormatCommand(command),
                              NodeMode::kPersistentSequential, nullptr);
  Expect(code, "writing a command for instance '" + id + "'");
}

// Read-modify-write of a job's `disabled` node, created when missing. True when it changed.
bool UpdateDisabled(registry::Registry& registry, const std::string& job,
                    const std::string& job_path, const std::function<void(Disabled&)>& change) {
  std::string path = job_path + "/disabled";
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    Stat stat;
    std::optional<std::string> text = ReadOptional(registry, path, &stat);
    Disabled before = ParseDisabled(text);
    SortUnique(before.shards);
    SortUnique(before.instances);
    Disabled after = before;
    change(after);
    SortUnique(after.shards);
    SortUnique(after.instances);
    if (after.shards == before.shards && after.instances == before.instances) return false;
    // Other writers' fields are kept.
    Json stored = text ? ParseObject(*text) : Json::object();
    stored["shards"] = after.shards;
    stored["instances"] = after.instances;
    Code code = text ? registry.Set(path, stored.dump(), stat.version, nullptr)
                     : registry.Create(path, stored.dump(), NodeMode::kPersistent, nullptr);
    if (code == Code::kBadVersion || (text && code == Code::kNoNode) ||
        (!text && code == Code::kNodeExists)) {
      continue;  // changed since the read: read again
    }
    if (code == Code::kNoNode) Fail(Kind::kNotFound, "no job '" + job + "'");
    Expect(code, "writing " + path);
    return true;
  }
  Fail(Kind::kConflict, "job '" + job + "': its disabled list kept changing; gave up after " +
                            std::to_string(kMaxWriteAttempts) + " attempts");
}

}  // namespace

std::vector<std::string> ClusterOperations::ShutdownJob(const std::string& job,
                                                        const std::string& instance) {
  std::string job_path = JobPath(job);
  if (!instance.empty()) RequireInstanceId(instance);
  if (!Exists(registry_, job_path)) Fail(Kind::kNotFound, "no job '" + job + "'");
  std::vector<std::string> live = ChildrenOptional(registry_, job_path + "/instances");
  std::vector<std::string> targets;
  if (instance.empty()) {
    targets = live;
  } else if (Contains(live, instance)) {
    targets = {instance};
  } else {
    Fail(Kind::kNotFound, "instance '" + instance + "' does not run job '" + job + "'");
  }
  for (const std::string& id : targets) {
    SendCommand(registry_, root_, id, {InstanceCommand::Op::kShutdownJob, job});
  }
  return targets;
}

// ---- instances

nlohmann::json ClusterOperations::ListInstances() const {
  struct Known {
    std::optional<ProcessInfo> process;
    std::int64_t job_pid = 0;
    std::vector<std::string> labels;  // from job registrations
    std::vector<std::string> jobs;
    std::vector<std::string> disabled_jobs;
  };
  std::map<std::string, Known> known;
  for (const std::string& id : ChildrenOptional(registry_, root_ + "/instances")) {
    std::optional<std::string> data = ReadOptional(registry_, ProcessNodePath(root_, id));
    if (data) known[id].process = ParseProcessInfo(id, *data);
  }
  for (const std::string& job : ChildrenOptional(registry_, root_ + "/jobs")) {
    std::string job_path = root_ + "/jobs/" + job;
    for (const std::string& id : ChildrenOptional(registry_, job_path + "/instances")) {
      std::optional<std::string> data = ReadOptional(registry_, job_path + "/instances/" + id);
      if (!data) continue;  // gone since the listing
      Known& entry = known[id];
      entry.jobs.push_back(job);
      Json registration = ParseObject(*data);
      if (entry.job_pid == 0) entry.job_pid = IntField(registration, "pid");
      std::string label = StringField(registration, "label");
      if (!label.empty() && !Contains(entry.labels, label)) entry.labels.push_back(label);
    }
    for (const std::string& id :
         ParseDisabled(ReadOptional(registry_, job_path + "/disabled")).instances) {
      auto it = known.find(id);
      if (it != known.end() && !Contains(it->second.disabled_jobs, job)) {
        it->second.disabled_jobs.push_back(job);
      }
    }
  }
  Json instances = Json::array();
  for (auto& [id, entry] : known) {
    ProcessInfo info;
    if (entry.process) {
      info = *entry.process;
    } else {
      info.id = id;
      info.pid = entry.job_pid;
      info.labels = entry.labels;
    }
    instances.push_back({{"id", id},
                         {"host", info.host},
                         {"ip", info.ip},
                         {"pid", info.pid},
                         {"labels", info.labels},
                         {"version", info.version},
                         {"http", info.http},
                         {"started_ms", info.started_ms},
                         {"process", entry.process.has_value()},
                         {"jobs", entry.jobs},
                         {"disabled_jobs", entry.disabled_jobs}});
  }
  return instances;
}

std::vector<std::string> ClusterOperations::SetInstanceDisabled(const std::string& instance,
                                                                bool disabled,
                                                                const std::string& job) {
  RequireInstanceId(instance);
  std::vector<std::string> jobs;
  if (!job.empty()) {
    if (!Exists(registry_, JobPath(job) + "/config")) Fail(Kind::kNotFound, "no job '" + job + "'");
    jobs.push_back(job);
  } else {
    // Jobs being deleted are left alone: a node written under them would hold up the cleanup.
    for (const std::string& name : ChildrenOptional(registry_, root_ + "/jobs")) {
      if (Exists(registry_, root_ + "/jobs/" + name + "/config")) jobs.push_back(name);
    }
  }
  std::vector<std::string> changed;
  for (const std::string& name : jobs) {
    bool did = UpdateDisabled(registry_, name, root_ + "/jobs/" + name, [&](Disabled& list) {
      if (disabled) {
        list.instances.push_back(instance);
      } else {
        std::erase(list.instances, instance);
      }
    });
    if (did) changed.push_back(name);
  }
  return changed;
}

void ClusterOperations::ShutdownInstance(const std::string& instance) {
  RequireInstanceId(instance);
  if (!Exists(registry_, ProcessNodePath(root_, instance))) {
    Fail(Kind::kNotFound, "instance '" + instance + "' is not live (no process node)");
  }
  SendCommand(registry_, root_, instance, {InstanceCommand::Op::kShutdown, ""});
}

// ---- shards

nlohmann::json ClusterOperations::ListShards(const std::string& job) const {
  std::string job_path = JobPath(job);
  std::optional<std::string> text = ReadOptional(registry_, job_path + "/config");
  std::vector<int> items;
  if (text) {
    config::JobConfig parsed;
    try {
      parsed = config::JobConfigFromJson(*text, "registry:" + job_path + "/config");
    } catch (const std::exception& e) {
      Fail(Kind::kInvalid, e.what());
    }
    for (int item = 0; item < parsed.ShardCount(); ++item) items.push_back(item);
  } else {
    // Being deleted: the shards still there.
    if (!Exists(registry_, job_path)) Fail(Kind::kNotFound, "no job '" + job + "'");
    for (const std::string& name : ChildrenOptional(registry_, job_path + "/shards")) {
      if (!name.empty() && name.size() < 10 &&
          std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        items.push_back(std::stoi(name));
      }
    }
    std::sort(items.begin(), items.end());
  }
  std::map<int, std::string> owners = Owners(ReadOptional(registry_, job_path + "/assignment"));
  Disabled disabled = ParseDisabled(ReadOptional(registry_, job_path + "/disabled"));
  auto text_or_null = [](const Json& object, const char* key) {
    std::string value = StringField(object, key);
    return value.empty() ? Json(nullptr) : Json(value);
  };
  Json shards = Json::array();
  for (int item : items) {
    std::string shard_path = job_path + "/shards/" + std::to_string(item);
    Json state = ParseObject(ReadOptional(registry_, shard_path + "/state").value_or("{}"));
    Stat lease_stat;
    std::optional<std::string> lease_text =
        ReadOptional(registry_, shard_path + "/lease", &lease_stat);
    Json lease = nullptr;
    if (lease_text) {
      Json parsed = ParseObject(*lease_text);
      lease = {{"instance", StringField(parsed, "instance")},
               {"fire", StringField(parsed, "fire")},
               {"token", lease_stat.czxid}};
    }
    std::size_t checkpoint_bytes = 0;
    auto checkpoint = state.find("checkpoint");
    if (checkpoint != state.end() && checkpoint->is_object()) {
      checkpoint_bytes = StringField(*checkpoint, "record").size();
    }
    auto owner = owners.find(item);
    shards.push_back({{"item", item},
                      {"owner", owner == owners.end() ? Json(nullptr) : Json(owner->second)},
                      {"disabled", Contains(disabled.shards, item)},
                      {"committed_fire", text_or_null(state, "committed_fire")},
                      {"committed_by", text_or_null(state, "committed_by")},
                      {"claimed_fire", text_or_null(state, "claimed_fire")},
                      {"claimed_by", text_or_null(state, "claimed_by")},
                      {"lease", lease},
                      {"checkpoint_bytes", checkpoint_bytes}});
  }
  return shards;
}

void ClusterOperations::SetShardDisabled(const std::string& job, int item, bool disabled) {
  std::string job_path = JobPath(job);
  std::optional<std::string> text = ReadOptional(registry_, job_path + "/config");
  if (!text) Fail(Kind::kNotFound, "no job '" + job + "'");
  int total = 0;
  try {
    total = config::JobConfigFromJson(*text, "registry:" + job_path + "/config").ShardCount();
  } catch (const std::exception& e) {
    Fail(Kind::kInvalid, e.what());
  }
  if (item < 0) {
    Fail(Kind::kInvalid, "job '" + job + "': bad shard item " + std::to_string(item));
  }
  if (item >= total) {
    Fail(Kind::kNotFound, "job '" + job + "' has no shard " + std::to_string(item) + " (items 0-" +
                              std::to_string(total - 1) + ")");
  }
  UpdateDisabled(registry_, job, job_path, [&](Disabled& list) {
    if (disabled) {
      list.shards.push_back(item);
    } else {
      std::erase(list.shards, item);
    }
  });
}

// ---- support

nlohmann::json ClusterOperations::DumpJob(const std::string& job) const {
  std::string job_path = JobPath(job);
  Json dump = Json::object();
  // Pre-order, children in sorted order: when capped, the first nodes in path order are kept.
  std::vector<std::string> stack{job_path};
  std::size_t count = 0;
  while (!stack.empty()) {
    if (count == kDumpLimit) {
      dump["truncated"] = true;  // paths start with '/': no node is called that
      break;
    }
    std::string path = std::move(stack.back());
    stack.pop_back();
    std::string data;
    Stat stat;
    Code code = registry_.Get(path, &data, &stat, nullptr);
    if (code == Code::kNoNode) {
      if (path == job_path) Fail(Kind::kNotFound, "no job '" + job + "'");
      continue;  // gone since its parent's listing
    }
    Expect(code, "reading " + path);
    dump[path] = {{"data", ValidUtf8(data)},
                  {"version", stat.version},
                  {"ephemeral_owner", stat.ephemeral_owner},
                  {"mtime_ms", stat.mtime_ms}};
    ++count;
    std::vector<std::string> children = ChildrenOptional(registry_, path);
    for (auto it = children.rbegin(); it != children.rend(); ++it)
      stack.push_back(path + "/" + *it);
  }
  return dump;
}

}  // namespace shardjob::operations
