#include "operations/instance_commands.h"

#include <nlohmann/json.hpp>

namespace shardjob::operations {

using Json = nlohmann::json;

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
  ProcessInfo info;
  info.id = id;
  Json parsed = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return info;
  auto text = [&](const char* key) {
    auto it = parsed.find(key);
    return it != parsed.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto number = [&](const char* key) -> std::int64_t {
    auto it = parsed.find(key);
    return it != parsed.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  info.host = text("host");
  info.ip = text("ip");
  info.pid = number("pid");
  info.version = text("version");
  info.http = text("http");
  info.started_ms = number("started_ms");
  auto labels = parsed.find("labels");
  if (labels != parsed.end() && labels->is_array()) {
    for (const Json& label : *labels) {
      if (label.is_string()) info.labels.push_back(label.get<std::string>());
    }
  }
  return info;
}

std::string FormatCommand(const InstanceCommand& command) {
  if (command.op == InstanceCommand::Op::kShutdownJob) {
    return Json{{"op", "shutdown_job"}, {"job", command.job}}.dump();
  }
  return Json{{"op", "shutdown"}}.dump();
}

std::optional<InstanceCommand> ParseCommand(const std::string& data) {
  Json parsed = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("op") || !parsed["op"].is_string()) {
    return std::nullopt;
  }
  const std::string op = parsed["op"].get<std::string>();
  if (op == "shutdown") return InstanceCommand{InstanceCommand::Op::kShutdown, ""};
  if (op == "shutdown_job" && parsed.contains("job") && parsed["job"].is_string() &&
      !parsed["job"].get<std::string>().empty()) {
    return InstanceCommand{InstanceCommand::Op::kShutdownJob, parsed["job"].get<std::string>()};
  }
  return std::nullopt;
}

}  // namespace shardjob::operations
