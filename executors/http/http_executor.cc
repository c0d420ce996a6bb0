#include "executors/http/http_executor.h"

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace shardjob::executors {
namespace {

constexpr const char* kShardingContextName = "shardingContext";

// libcurl reads "Name:" as "drop this header"; "Name;" is how it sends one with an empty value.
std::string CurlHeaderLine(const std::string& name, const std::string& value) {
  return value.empty() ? name + ";" : name + ": " + value;
}

bool IsSuccess(long status) { return status >= 200 && status <= 299; }

// Runs of spaces and control bytes become one space, so that a body (indented HTML, a stack
// trace) stays one readable line in logs and alerts.
std::string OneLine(const std::string& text) {
  std::string line;
  line.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool blank = byte <= 0x20 || byte == 0x7f;
    if (!blank) {
      line.push_back(c);
    } else if (!line.empty() && line.back() != ' ') {
      line.push_back(' ');
    }
  }
  if (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

// A redirect target can carry a token as much as the configured URL can.
std::string Redacted(const std::string& url) {
  try {
    return HttpUrl(url).redacted();
  } catch (const std::invalid_argument&) {
    return "a URL that is not http or https";
  }
}

std::string BodyExcerpt(const HttpOutcome& outcome) {
  if (outcome.body_bytes == 0) return "(empty body)";
  std::string excerpt = OneLine(outcome.body);
  if (outcome.body_bytes > outcome.body.size()) {
    excerpt += "... (" + std::to_string(outcome.body_bytes) + " bytes in all)";
  }
  return excerpt;
}

}  // namespace

HttpExecutor::HttpExecutor(const spi::PluginContext& context)
    : logger_(context.logger), props_(ReadHttpJobProps(context.props)) {
  if (props_.content_type) {
    fixed_header_lines_.push_back(CurlHeaderLine("Content-Type", *props_.content_type));
  }
  for (const HttpHeader& header : props_.headers) {
    fixed_header_lines_.push_back(CurlHeaderLine(header.name, header.value));
  }
  // Not an error: ElasticJob ignores it too, and its configs should load unchanged.
  if (!props_.data.empty() && (props_.method == "GET" || props_.method == "HEAD")) {
    logger_.Log(spi::LogLevel::kWarn, "job '" + context.job_name +
                                          "': http.data is not sent with " + props_.method +
                                          "; only POST, PUT, PATCH and DELETE carry a body");
  }
}

const char* HttpExecutor::JobInterface() const { return nullptr; }

spi::Status HttpExecutor::Execute(spi::JobObject* /*job*/,
                                  const spi::ShardingContext& context) noexcept {
  try {
    const HttpOutcome outcome = Exchange(BuildRequest(context), context.cancellation);
    return Judge(outcome, context);
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("HTTP executor: ") + e.what());
  } catch (...) {
    return spi::Status::Internal("HTTP executor: unknown exception");
  }
}

HttpRequest HttpExecutor::BuildRequest(const spi::ShardingContext& context) const {
  const std::string json = spi::ToJson(context);
  HttpRequest request;
  request.method = props_.method;
  request.url = props_.method == "GET" ? props_.url.WithQueryParameter(kShardingContextName, json)
                                       : props_.url.full();
  request.header_lines = fixed_header_lines_;
  // ToJson escapes every control character, so the JSON cannot break the header line.
  request.header_lines.push_back(CurlHeaderLine(kShardingContextName, json));
  const bool always_has_body =
      props_.method == "POST" || props_.method == "PUT" || props_.method == "PATCH";
  // An empty POST, PUT or PATCH still says Content-Length: 0, which some servers insist on.
  if (always_has_body || (props_.method == "DELETE" && !props_.data.empty())) {
    request.body = props_.data;
  }
  request.connect_timeout = props_.connect_timeout;
  request.read_timeout = props_.read_timeout;
  return request;
}

spi::Status HttpExecutor::Judge(const HttpOutcome& outcome,
                                const spi::ShardingContext& context) const {
  const std::string what = props_.method + " " + props_.url.redacted();
  using Kind = HttpOutcome::Kind;
  switch (outcome.kind) {
    case Kind::kAnswered: {
      if (IsSuccess(outcome.status)) {
        logger_.Log(spi::LogLevel::kDebug, context.task_id + ": " + what + " answered HTTP " +
                                               std::to_string(outcome.status) + " (" +
                                               std::to_string(outcome.body_bytes) + " bytes)");
        return spi::Status::Ok();
      }
      std::string message = what + " answered HTTP " + std::to_string(outcome.status);
      if (!outcome.location.empty()) {
        message += " (redirect to " + Redacted(outcome.location) + ", not followed)";
      }
      return spi::Status::Failed(message + ": " + BodyExcerpt(outcome));
    }
    case Kind::kCancelled:
      return spi::Status::Cancelled(what + ": cancelled while the request was in flight");
    case Kind::kReadTimedOut:
      return spi::Status::TimedOut(
          what + ": read timed out, the connection was silent for more than " +
          std::to_string(props_.read_timeout ? props_.read_timeout->count() : 0) +
          " ms (http.read.timeout.milliseconds)");
    case Kind::kConnectTimedOut:
      return spi::Status::TimedOut(what + ": no connection within " +
                                   std::to_string(props_.connect_timeout.count()) +
                                   " ms (http.connect.timeout.milliseconds): " + outcome.error);
    case Kind::kUnreachable:
      return spi::Status::Unavailable(what + ": " + outcome.error);
    case Kind::kTransportError:
      return spi::Status::Failed(what + ": " + outcome.error);
  }
  return spi::Status::Internal("HTTP executor: unknown outcome");
}

}  // namespace shardjob::executors
