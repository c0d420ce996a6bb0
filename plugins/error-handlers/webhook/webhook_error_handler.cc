#include "plugins/error-handlers/webhook/webhook_error_handler.h"

#include <cstring>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "plugins/error-handlers/common/alert_props.h"
#include "plugins/error-handlers/common/alert_text.h"
#include "plugins/error-handlers/common/http_post.h"

namespace shardjob::error_handlers {
namespace {

constexpr const char kHeadersProp[] = "webhook.headers";

const SenderPropNames kSenderProps = {"webhook.queue_size", "webhook.max_attempts",
                                      "webhook.backoff_ms", "webhook.shutdown_timeout_ms"};

std::unique_ptr<AlertChannel> MakeChannel(const spi::Properties& props) {
  return std::make_unique<WebhookChannel>(ReadWebhookSettings(props));
}

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// RFC 9110 token characters (not std::isalnum, which follows the process's locale).
bool IsTokenChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// Messages name the entry by position and name, never by value: values are often credentials.
std::string ParseHeaderEntry(const std::string& entry, size_t position) {
  std::string where =
      std::string("prop '") + kHeadersProp + "': header " + std::to_string(position);
  size_t colon = entry.find(':');
  if (colon == std::string::npos) throw std::invalid_argument(where + " is not 'Name: value'");
  std::string name = Trim(entry.substr(0, colon));
  std::string value = Trim(entry.substr(colon + 1));
  if (name.empty()) throw std::invalid_argument(where + " has no name");
  where += " ('" + name + "')";
  for (unsigned char c : name) {
    if (!IsTokenChar(c)) throw std::invalid_argument(where + " has an invalid name");
  }
  if (value.empty()) throw std::invalid_argument(where + " has no value");
  for (unsigned char c : value) {
    if ((c < ' ' && c != '\t') || c == 0x7f) {
      throw std::invalid_argument(where + " has a control character in its value");
    }
  }
  return name + ": " + value;
}

}  // namespace

WebhookErrorHandler::WebhookErrorHandler(const spi::PluginContext& context)
    : AlertingErrorHandler(MakeChannel(context.props),
                           ReadSenderOptions(context.props, kSenderProps), context.logger) {}

WebhookSettings ReadWebhookSettings(const spi::Properties& props) {
  RejectUnknownProps(
      props, "webhook.",
      {"webhook.url", kHeadersProp, "webhook.timeout_ms", kSenderProps.queue_size,
       kSenderProps.max_attempts, kSenderProps.backoff, kSenderProps.shutdown_timeout});
  WebhookSettings settings;
  settings.url = RequiredProp(props, "webhook.url");
  CheckHttpUrl("webhook.url", settings.url);
  settings.headers = ParseWebhookHeaders(props.GetOr(kHeadersProp, ""));
  settings.timeout = MillisProp(props, "webhook.timeout_ms", 5000, 1, 600000);
  return settings;
}

std::vector<std::string> ParseWebhookHeaders(const std::string& text) {
  char separator = text.find('\n') != std::string::npos ? '\n' : ';';
  std::vector<std::string> headers;
  size_t start = 0;
  size_t position = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    std::string entry = Trim(text.substr(start, end - start));
    ++position;
    if (!entry.empty()) headers.push_back(ParseHeaderEntry(entry, position));
    start = end + 1;
  }
  return headers;
}

std::string WebhookPayload(const Alert& alert) {
  const spi::JobError& error = alert.error;
  nlohmann::json payload = {
      {"job", error.job_name},
      {"fire", error.fire_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.fire_id)},
      {"shard",
       error.sharding_item < 0 ? nlohmann::json(nullptr) : nlohmann::json(error.sharding_item)},
      {"instance", error.instance_id},
      {"error", error.message},
      {"time", FormatIsoUtc(alert.time)},
      {"time_ms", EpochMillis(alert.time)},
  };
  // A script's output may hold bytes that are not UTF-8: replace them rather than lose the alert.
  return payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

spi::Status WebhookChannel::Deliver(const Alert& alert, const std::atomic<bool>& abort) {
  HttpRequest request;
  request.url = settings_.url;
  request.headers = settings_.headers;
  request.body = WebhookPayload(alert);
  request.connect_timeout = settings_.timeout;
  request.timeout = settings_.timeout;
  HttpResponse response;
  spi::Status status = HttpPost(request, abort, &response);
  if (!status.ok()) return status;
  if (response.status < 200 || response.status > 299) {
    return spi::Status::Failed(UrlOrigin(settings_.url) + " answered HTTP " +
                               std::to_string(response.status));
  }
  return spi::Status::Ok();
}

}  // namespace shardjob::error_handlers
