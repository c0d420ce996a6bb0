#include "operations/instance_commands.h"

#include "coordination/registry_json.h"

namespace shardjob::operations {

using coordination::Json;

std::string ProcessNodePath(const std::string& root, const std::string& instance_id) {
  return root + "/instances/" + instance_id;
}

std::string CommandsPath(const std::string& root, const std::string& instance_id) {
  return root + "/commands/" + instance_id;
}

std::string FormatProcessInfo(const ProcessInfo& info) {
  return Json{{"host", info.host},
              {"ip", info.ip},
              {"pid", info.pid},
              {"labels", info.labels},
              {"version", info.version},
              {"http", info.http},
              {"started_ms", info.started_ms}}
      .dump();
}

ProcessInfo ParseProcessInfo(const std::string& id, const std::string& data) {
  const Json parsed = coordination::ParseObject(data);
  ProcessInfo info;
  info.id = id;
  info.host = coordination::StringField(parsed, "host");
  info.ip = coordination::StringField(parsed, "ip");
  info.pid = coordination::IntField(parsed, "pid");
  info.labels = coordination::ListField<std::string>(parsed, "labels");
  info.version = coordination::StringField(parsed, "version");
  info.http = coordination::StringField(parsed, "http");
  info.started_ms = coordination::IntField(parsed, "started_ms");
  return info;
}

std::string FormatCommand(const InstanceCommand& command) {
  if (command.op == InstanceCommand::Op::kShutdownJob) {
    return Json{{"op", "shutdown_job"}, {"job", command.job}}.dump();
  }
  return Json{{"op", "shutdown"}}.dump();
}

std::optional<InstanceCommand> ParseCommand(const std::string& data) {
  const Json parsed = coordination::ParseObject(data);
  const std::string op = coordination::StringField(parsed, "op");
  if (op == "shutdown") return InstanceCommand{InstanceCommand::Op::kShutdown, ""};
  const std::string job = coordination::StringField(parsed, "job");
  if (op == "shutdown_job" && !job.empty()) {
    return InstanceCommand{InstanceCommand::Op::kShutdownJob, job};
  }
  return std::nullopt;
}

}  // namespace shardjob::operations
