#include "shardjob/spi/sharding_context.h"

#include <cstdio>

namespace shardjob::spi {
namespace {

// The SPI links nothing but the standard library, so the context's few fields are encoded here.
void AppendJsonString(std::string* out, const std::string& value) {
  out->push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out->append(escaped);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendKey(std::string* out, const char* key) {
  if (out->size() > 1) out->push_back(',');
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

}  // namespace

std::string ToJson(const ShardingContext& context) {
  std::string json = "{";
  AppendKey(&json, "jobName");
  AppendJsonString(&json, context.job_name);
  AppendKey(&json, "taskId");
  AppendJsonString(&json, context.task_id);
  AppendKey(&json, "shardingTotalCount");
  json += std::to_string(context.sharding_total_count);
  AppendKey(&json, "jobParameter");
  AppendJsonString(&json, context.job_parameter);
  AppendKey(&json, "shardingItem");
  json += std::to_string(context.sharding_item);
  if (context.sharding_parameter) {
    AppendKey(&json, "shardingParameter");
    AppendJsonString(&json, *context.sharding_parameter);
  }
  AppendKey(&json, "fireId");
  AppendJsonString(&json, context.fire_id);
  AppendKey(&json, "instanceId");
  AppendJsonString(&json, context.instance_id);
  AppendKey(&json, "fencingToken");
  json += std::to_string(context.fencing_token);
  AppendKey(&json, "shard");
  json += std::to_string(context.shard);
  AppendKey(&json, "shardCount");
  json += std::to_string(context.shard_count);
  AppendKey(&json, "page");
  json += std::to_string(context.page);
  AppendKey(&json, "pageCount");
  json += std::to_string(context.page_count);
  if (!context.shard_label.empty()) {
    AppendKey(&json, "shardLabel");
    AppendJsonString(&json, context.shard_label);
  }
  if (!context.shard_params.empty()) {
    AppendKey(&json, "shardParams");
    json.push_back('{');
    bool first = true;
    for (const auto& [key, value] : context.shard_params) {
      if (!first) json.push_back(',');
      first = false;
      AppendJsonString(&json, key);
      json.push_back(':');
      AppendJsonString(&json, value);
    }
    json.push_back('}');
  }
  if (std::optional<std::string> checkpoint = context.LoadCheckpoint()) {
    AppendKey(&json, "checkpoint");
    AppendJsonString(&json, *checkpoint);
  }
  json.push_back('}');
  return json;
}

}  // namespace shardjob::spi
