#include "plugins/error-handlers/wechat/wechat_error_handler.h"

#include <memory>

#include "plugins/error-handlers/common/alert_props.h"
#include "plugins/error-handlers/common/alert_text.h"
#include "plugins/error-handlers/common/http_post.h"
#include "plugins/error-handlers/common/robot_message.h"

namespace shardjob::error_handlers {
namespace {

// ElasticJob names its props in camelCase; the sender's props follow suit.
const SenderPropNames kSenderProps = {"wechat.queueSize", "wechat.maxAttempts",
                                      "wechat.backoffMilliseconds",
                                      "wechat.shutdownTimeoutMilliseconds"};

std::unique_ptr<AlertChannel> MakeChannel(const spi::Properties& props) {
  return std::make_unique<WeChatChannel>(ReadWeChatSettings(props));
}

}  // namespace

WeChatErrorHandler::WeChatErrorHandler(const spi::PluginContext& context)
    : AlertingErrorHandler(MakeChannel(context.props),
                           ReadSenderOptions(context.props, kSenderProps), context.logger) {}

WeChatSettings ReadWeChatSettings(const spi::Properties& props) {
  RejectUnknownProps(
      props, "wechat.",
      {"wechat.webhook", "wechat.connectTimeoutMilliseconds", "wechat.readTimeoutMilliseconds",
       kSenderProps.queue_size, kSenderProps.max_attempts, kSenderProps.backoff,
       kSenderProps.shutdown_timeout});
  WeChatSettings settings;
  settings.webhook = RequiredProp(props, "wechat.webhook");
  CheckHttpUrl("wechat.webhook", settings.webhook);
  settings.connect_timeout =
      MillisProp(props, "wechat.connectTimeoutMilliseconds", 3000, 1, 600000);
  settings.read_timeout = MillisProp(props, "wechat.readTimeoutMilliseconds", 5000, 1, 600000);
  return settings;
}

spi::Status WeChatChannel::Deliver(const Alert& alert, const std::atomic<bool>& abort) {
  HttpRequest request;
  request.url = settings_.webhook;
  request.body = RobotTextPayload(AlertText(alert));
  request.connect_timeout = settings_.connect_timeout;
  // libcurl has no per-read timeout like Java's: the whole exchange gets both budgets.
  request.timeout = settings_.connect_timeout + settings_.read_timeout;
  HttpResponse response;
  spi::Status status = HttpPost(request, abort, &response);
  if (!status.ok()) return status;
  return CheckRobotReply(response);
}

}  // namespace shardjob::error_handlers
