#pragma once

#include <string>

#include "plugins/error-handlers/common/http_post.h"
#include "shardjob/spi/status.h"

namespace shardjob::error_handlers {

// The group-chat robots of DingTalk and WeCom (WeChat Work) take the same text message:
// {"msgtype":"text","text":{"content":"<content>"}}. Invalid UTF-8 in the content (a script's
// output, say) is replaced by U+FFFD rather than failing the alert.
std::string RobotTextPayload(const std::string& content);

// Both robots answer HTTP 200 with {"errcode":0,"errmsg":"ok"}; any other status, a body that is
// not such JSON, or a non-zero errcode is a failed attempt, reported with the robot's errmsg.
spi::Status CheckRobotReply(const HttpResponse& response);

}  // namespace shardjob::error_handlers
