#include "plugins/error-handlers/dingtalk/dingtalk_error_handler.h"

#include <memory>

#include "plugins/error-handlers/common/alert_props.h"
#include "plugins/error-handlers/common/alert_text.h"
#include "plugins/error-handlers/common/http_post.h"
#include "plugins/error-handlers/common/robot_message.h"
#include "plugins/error-handlers/dingtalk/dingtalk_sign.h"

namespace shardjob::error_handlers {
namespace {

// ElasticJob names its props in camelCase; the sender's props follow suit.
const SenderPropNames kSenderProps = {"dingtalk.queueSize", "dingtalk.maxAttempts",
                                      "dingtalk.backoffMilliseconds",
                                      "dingtalk.shutdownTimeoutMilliseconds"};

std::unique_ptr<AlertChannel> MakeChannel(const spi::Properties& props) {
  return std::make_unique<DingTalkChannel>(ReadDingTalkSettings(props));
}

}  // namespace

DingTalkErrorHandler::DingTalkErrorHandler(const spi::PluginContext& context)
    : AlertingErrorHandler(MakeChannel(context.props),
                           ReadSenderOptions(context.props, kSenderProps), context.logger) {}

DingTalkSettings ReadDingTalkSettings(const spi::Properties& props) {
  RejectUnknownProps(props, "dingtalk.",
                     {"dingtalk.webhook", "dingtalk.keyword", "dingtalk.secret",
                      "dingtalk.connectTimeoutMilliseconds", "dingtalk.readTimeoutMilliseconds",
                      kSenderProps.queue_size, kSenderProps.max_attempts, kSenderProps.backoff,
                      kSenderProps.shutdown_timeout});
  DingTalkSettings settings;
  settings.webhook = RequiredProp(props, "dingtalk.webhook");
  CheckHttpUrl("dingtalk.webhook", settings.webhook);
  settings.keyword = props.GetOr("dingtalk.keyword", "");
  settings.secret = props.GetOr("dingtalk.secret", "");
  settings.connect_timeout =
      MillisProp(props, "dingtalk.connectTimeoutMilliseconds", 3000, 1, 600000);
  settings.read_timeout = MillisProp(props, "dingtalk.readTimeoutMilliseconds", 5000, 1, 600000);
  return settings;
}

std::string DingTalkContent(const DingTalkSettings& settings, const Alert& alert) {
  return settings.keyword + AlertText(alert);
}

spi::Status DingTalkChannel::Deliver(const Alert& alert, const std::atomic<bool>& abort) {
  HttpRequest request;
  request.url = settings_.secret.empty()
                    ? settings_.webhook
                    : DingTalkSignedUrl(settings_.webhook, settings_.secret,
                                        EpochMillis(std::chrono::system_clock::now()));
  request.body = RobotTextPayload(DingTalkContent(settings_, alert));
  request.connect_timeout = settings_.connect_timeout;
  // libcurl has no per-read timeout like Java's: the whole exchange gets both budgets.
  request.timeout = settings_.connect_timeout + settings_.read_timeout;
  HttpResponse response;
  spi::Status status = HttpPost(request, abort, &response);
  if (!status.ok()) return status;
  return CheckRobotReply(response);
}

}  // namespace shardjob::error_handlers
