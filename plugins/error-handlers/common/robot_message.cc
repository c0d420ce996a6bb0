#include "plugins/error-handlers/common/robot_message.h"

#include <nlohmann/json.hpp>

namespace shardjob::error_handlers {
namespace {

std::string Excerpt(const std::string& body) {
  constexpr std::size_t kMax = 200;
  return body.size() <= kMax ? body : body.substr(0, kMax) + "...";
}

}  // namespace

std::string RobotTextPayload(const std::string& content) {
  nlohmann::json payload = {{"msgtype", "text"}, {"text", {{"content", content}}}};
  return payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

spi::Status CheckRobotReply(const HttpResponse& response) {
  if (response.status < 200 || response.status > 299) {
    return spi::Status::Failed("the robot answered HTTP " + std::to_string(response.status) + ": " +
                               Excerpt(response.body));
  }
  nlohmann::json reply = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object() || !reply.contains("errcode")) {
    return spi::Status::Failed("the robot's answer has no errcode: " + Excerpt(response.body));
  }
  const nlohmann::json& code = reply["errcode"];
  // ElasticJob compares the code's text with "0", so a robot answering "0" as a string counts too.
  bool ok = (code.is_number_integer() && code.get<long long>() == 0) ||
            (code.is_string() && code.get<std::string>() == "0");
  if (ok) return spi::Status::Ok();
  std::string message = reply.contains("errmsg") && reply["errmsg"].is_string()
                            ? reply["errmsg"].get<std::string>()
                            : "(no errmsg)";
  return spi::Status::Failed("the robot refused the message: errcode " +
                             code.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                             ", errmsg " + message);
}

}  // namespace shardjob::error_handlers
