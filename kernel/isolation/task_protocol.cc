#include "isolation/task_protocol.h"

#include <array>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

namespace shardjob::isolation {
namespace {

using Json = nlohmann::json;
using Code = spi::Status::Code;

// Stable names on the wire, so that a message never depends on the enum's order.
constexpr std::array<std::pair<Code, const char*>, 8> kCodes = {{
    {Code::kOk, "ok"},
    {Code::kInvalidArgument, "invalid_argument"},
    {Code::kNotFound, "not_found"},
    {Code::kFailed, "failed"},
    {Code::kTimedOut, "timed_out"},
    {Code::kCancelled, "cancelled"},
    {Code::kInternal, "internal"},
    {Code::kUnavailable, "unavailable"},
}};

constexpr std::array<std::pair<spi::LogLevel, const char*>, 4> kLevels = {{
    {spi::LogLevel::kDebug, "debug"},
    {spi::LogLevel::kInfo, "info"},
    {spi::LogLevel::kWarn, "warn"},
    {spi::LogLevel::kError, "error"},
}};

spi::Status MakeStatus(Code code, std::string message) {
  switch (code) {
    case Code::kOk:
      return spi::Status::Ok();
    case Code::kInvalidArgument:
      return spi::Status::InvalidArgument(std::move(message));
    case Code::kNotFound:
      return spi::Status::NotFound(std::move(message));
    case Code::kFailed:
      return spi::Status::Failed(std::move(message));
    case Code::kTimedOut:
      return spi::Status::TimedOut(std::move(message));
    case Code::kCancelled:
      return spi::Status::Cancelled(std::move(message));
    case Code::kInternal:
      return spi::Status::Internal(std::move(message));
    case Code::kUnavailable:
      return spi::Status::Unavailable(std::move(message));
  }
  return spi::Status::Internal(std::move(message));
}

// `json.dump()` throws on invalid UTF-8, and a job may log any bytes: replace them instead.
// A frame must fit the instance's line limit (1 MiB) even with every byte escaped (\u00XX is 6):
// a longer message or log line is cut, and says so.
constexpr std::size_t kMaxFrameText = 64 << 10;

std::string Capped(std::string_view text) {
  if (text.size() <= kMaxFrameText) return std::string(text);
  return std::string(text.substr(0, kMaxFrameText)) + "... (cut at 64 KiB)";
}

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const char* WireCode(Code code) {
  for (const auto& [value, name] : kCodes) {
    if (value == code) return name;
  }
  return "internal";
}

std::optional<Code> ParseWireCode(const std::string& name) {
  for (const auto& [value, wire] : kCodes) {
    if (name == wire) return value;
  }
  return std::nullopt;
}

// Checkpoint records are bytes, not text: base64 carries every byte through JSON unchanged.
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1]))
                                << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64[n >> 18 & 63];
    out += kBase64[n >> 12 & 63];
    out += kBase64[n >> 6 & 63];
    out += kBase64[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kBase64[n >> 18 & 63];
    out += kBase64[n >> 12 & 63];
    out += rest == 2 ? kBase64[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// nullopt for what is not canonical base64 (padded, no whitespace).
std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int padding = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (padding == 1 && text[i + 2] == '=') return std::nullopt;
    std::uint32_t n = 0;
    for (int k = 0; k < 4; ++k) {
      const int v = k >= 4 - padding ? 0 : value(text[i + static_cast<std::size_t>(k)]);
      if (v < 0) return std::nullopt;
      n = n << 6 | static_cast<std::uint32_t>(v);
    }
    out += static_cast<char>(n >> 16 & 0xff);
    if (padding < 2) out += static_cast<char>(n >> 8 & 0xff);
    if (padding < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

template <typename T>
T Field(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) throw std::invalid_argument(std::string("missing '") + key + "'");
  try {
    return it->get<T>();
  } catch (const Json::exception&) {
    throw std::invalid_argument(std::string("'") + key + "' has the wrong type");
  }
}

}  // namespace

const char* LogLevelName(spi::LogLevel level) {
  for (const auto& [value, name] : kLevels) {
    if (value == level) return name;
  }
  return "info";
}

std::string EncodeRequest(const TaskRequest& request) {
  const spi::ShardingContext& context = request.context;
  Json json = {
      {"protocol", kProtocolVersion},
      {"job", Json::parse(request.job_config_json)},
      {"libraries", request.libraries},
      {"context",
       {{"job_name", context.job_name},
        {"fire_id", context.fire_id},
        {"task_id", context.task_id},
        {"instance_id", context.instance_id},
        {"sharding_total_count", context.sharding_total_count},
        {"sharding_item", context.sharding_item},
        {"sharding_parameter",
         context.sharding_parameter ? Json(*context.sharding_parameter) : Json(nullptr)},
        {"shard", context.shard},
        {"shard_count", context.shard_count},
        {"page", context.page},
        {"page_count", context.page_count},
        {"shard_label", context.shard_label},
        {"shard_params", context.shard_params},
        {"job_parameter", context.job_parameter},
        {"fencing_token", context.fencing_token}}},
      {"checkpoint", request.checkpoint
                         ? Json{{"record", request.checkpoint->record
                                               ? Json(Base64Encode(*request.checkpoint->record))
                                               : Json(nullptr)},
                                {"reply_timeout_ms", request.checkpoint->reply_timeout.count()}}
                         : Json(nullptr)},
      {"limits",
       {{"cpu_seconds", request.limits.cpu.count()},
        {"memory_bytes", request.limits.memory},
        {"wall_ms", request.limits.wall.count()},
        {"kill_grace_ms", request.limits.kill_grace.count()}}},
      {"log_level", request.log_level},
  };
  return Dump(json);
}

TaskRequest DecodeRequest(std::string_view text) {
  Json json;
  try {
    json = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    throw std::invalid_argument(std::string("not JSON: ") + e.what());
  }
  if (!json.is_object()) throw std::invalid_argument("not a JSON object");
  const int protocol = Field<int>(json, "protocol");
  if (protocol != kProtocolVersion) {
    throw std::invalid_argument("protocol version " + std::to_string(protocol) +
                                ", this runner speaks " + std::to_string(kProtocolVersion) +
                                " (the runner and the instance come from different builds)");
  }
  TaskRequest request;
  request.job_config_json = Dump(Field<Json>(json, "job"));
  request.libraries = Field<std::vector<std::string>>(json, "libraries");
  const Json context = Field<Json>(json, "context");
  spi::ShardingContext& out = request.context;
  out.job_name = Field<std::string>(context, "job_name");
  out.fire_id = Field<std::string>(context, "fire_id");
  out.task_id = Field<std::string>(context, "task_id");
  out.instance_id = Field<std::string>(context, "instance_id");
  out.sharding_total_count = Field<int>(context, "sharding_total_count");
  out.sharding_item = Field<int>(context, "sharding_item");
  const Json parameter = Field<Json>(context, "sharding_parameter");
  if (!parameter.is_null())
    out.sharding_parameter = Field<std::string>(context, "sharding_parameter");
  out.shard = Field<int>(context, "shard");
  out.shard_count = Field<int>(context, "shard_count");
  out.page = Field<int>(context, "page");
  out.page_count = Field<int>(context, "page_count");
  out.shard_label = Field<std::string>(context, "shard_label");
  out.shard_params = Field<std::map<std::string, std::string>>(context, "shard_params");
  out.job_parameter = Field<std::string>(context, "job_parameter");
  out.fencing_token = Field<std::int64_t>(context, "fencing_token");
  if (const Json checkpoint = Field<Json>(json, "checkpoint"); !checkpoint.is_null()) {
    CheckpointStart& start = request.checkpoint.emplace();
    if (const Json record = Field<Json>(checkpoint, "record"); !record.is_null()) {
      start.record = Base64Decode(Field<std::string>(checkpoint, "record"));
      if (!start.record) throw std::invalid_argument("'record' is not base64");
    }
    start.reply_timeout =
        std::chrono::milliseconds(Field<std::int64_t>(checkpoint, "reply_timeout_ms"));
  }
  const Json limits = Field<Json>(json, "limits");
  request.limits.cpu = std::chrono::seconds(Field<std::int64_t>(limits, "cpu_seconds"));
  request.limits.memory = Field<std::uint64_t>(limits, "memory_bytes");
  request.limits.wall = std::chrono::milliseconds(Field<std::int64_t>(limits, "wall_ms"));
  request.limits.kill_grace =
      std::chrono::milliseconds(Field<std::int64_t>(limits, "kill_grace_ms"));
  request.log_level = Field<std::string>(json, "log_level");
  return request;
}

std::string EncodeLogFrame(spi::LogLevel level, std::string_view source, std::string_view text) {
  return Dump(Json{{"log",
                    {{"level", LogLevelName(level)},
                     {"source", std::string(source)},
                     {"text", Capped(text)}}}}) +
         "\n";
}

std::string EncodeNoteFrame(std::string_view note) {
  return Dump(Json{{"note", std::string(note)}}) + "\n";
}

std::string EncodeResultFrame(const spi::Status& status, std::uint64_t items_processed) {
  return Dump(Json{{"result",
                    {{"code", WireCode(status.code())},
                     {"message", Capped(status.message())},
                     {"items", items_processed}}}}) +
         "\n";
}

std::string EncodeCheckpointFrame(std::uint64_t id, std::string_view record) {
  return Dump(Json{{"checkpoint", {{"id", id}, {"record", Base64Encode(record)}}}}) + "\n";
}

std::optional<Frame> DecodeFrame(std::string_view line) {
  Json json = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || json.size() != 1) return std::nullopt;
  try {
    Frame frame;
    if (auto log = json.find("log"); log != json.end()) {
      frame.kind = Frame::Kind::kLog;
      const std::string level = Field<std::string>(*log, "level");
      for (const auto& [value, name] : kLevels) {
        if (level == name) frame.level = value;
      }
      frame.source = Field<std::string>(*log, "source");
      frame.text = Field<std::string>(*log, "text");
      return frame;
    }
    if (auto note = json.find("note"); note != json.end() && note->is_string()) {
      frame.kind = Frame::Kind::kNote;
      frame.text = note->get<std::string>();
      return frame;
    }
    if (auto result = json.find("result"); result != json.end()) {
      frame.kind = Frame::Kind::kResult;
      const std::string code = Field<std::string>(*result, "code");
      const std::string message = Field<std::string>(*result, "message");
      if (auto items = result->find("items"); items != result->end()) {
        if (!items->is_number_unsigned()) return std::nullopt;
        frame.items_processed = items->get<std::uint64_t>();
      }
      const std::optional<Code> value = ParseWireCode(code);
      if (!value) return std::nullopt;
      frame.status = MakeStatus(*value, message);
      return frame;
    }
    if (auto checkpoint = json.find("checkpoint"); checkpoint != json.end()) {
      frame.kind = Frame::Kind::kCheckpoint;
      frame.id = Field<std::uint64_t>(*checkpoint, "id");
      std::optional<std::string> record = Base64Decode(Field<std::string>(*checkpoint, "record"));
      if (!record) return std::nullopt;
      frame.text = std::move(*record);
      return frame;
    }
  } catch (const std::invalid_argument&) {
  }
  return std::nullopt;
}

std::string EncodeCheckpointReply(const CheckpointReply& reply) {
  return Dump(Json{{"checkpoint_saved",
                    {{"id", reply.id},
                     {"code", WireCode(reply.status.code())},
                     {"message", Capped(reply.status.message())}}}}) +
         "\n";
}

std::optional<CheckpointReply> DecodeCheckpointReply(std::string_view line) {
  Json json = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || json.size() != 1) return std::nullopt;
  auto saved = json.find("checkpoint_saved");
  if (saved == json.end()) return std::nullopt;
  try {
    CheckpointReply reply;
    reply.id = Field<std::uint64_t>(*saved, "id");
    const std::optional<Code> code = ParseWireCode(Field<std::string>(*saved, "code"));
    if (!code) return std::nullopt;
    reply.status = MakeStatus(*code, Field<std::string>(*saved, "message"));
    return reply;
  } catch (const std::invalid_argument&) {
  }
  return std::nullopt;
}

}  // namespace shardjob::isolation
