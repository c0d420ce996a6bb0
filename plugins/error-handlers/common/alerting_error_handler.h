#pragma once

#include <memory>

#include "plugins/error-handlers/common/alert_channel.h"
#include "plugins/error-handlers/common/alert_sender.h"
#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/logger.h"

namespace shardjob::error_handlers {

// What WEBHOOK, DINGTALK, WECHAT and EMAIL have in common: Handle() stamps the error with the
// current time and queues it for the sender's thread. It never waits on the network and never
// escalates: an alert that cannot be delivered is logged, it does not abandon the fire.
class AlertingErrorHandler : public spi::ErrorHandler {
 public:
  AlertingErrorHandler(std::unique_ptr<AlertChannel> channel, SenderOptions options,
                       spi::Logger& logger)
      : logger_(logger), sender_(std::move(channel), options, logger) {}

  spi::Status Handle(const spi::JobError& error) noexcept override;

 private:
  spi::Logger& logger_;
  AlertSender sender_;
};

}  // namespace shardjob::error_handlers
