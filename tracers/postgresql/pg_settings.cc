#include "tracers/postgresql/pg_settings.h"

#include <libpq-fe.h>

#include <cstdint>
#include <stdexcept>
#include <utility>

#include "tracers/rdb/tracer_props.h"

namespace shardjob::tracers {
namespace {

constexpr std::int64_t kDefaultConnectTimeoutSeconds = 5;

// Throws std::invalid_argument with libpq's reason when `url` is no connection string.
void CheckUrl(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string reason = error != nullptr ? error : "libpq is out of memory";
    PQfreemem(error);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    throw std::invalid_argument("tracing.props.url: not a PostgreSQL connection string or URI: " +
                                reason);
  }
  PQconninfoFree(options);
}

}  // namespace

PgSettings PgSettingsFromProps(const spi::Properties& props, int statement_timeout_ms) {
  rdb::RejectUnknownProps(props, {"url", "connect_timeout"});
  const std::string url = rdb::RequiredProp(
      props, "url", "a libpq connection string, e.g. postgresql://user@host:5432/db");
  CheckUrl(url);
  const bool timeout_given = props.Has("connect_timeout");
  const std::int64_t connect_timeout =
      rdb::IntProp(props, "connect_timeout", kDefaultConnectTimeoutSeconds, 1, 3600);

  PgSettings settings;
  auto add = [&settings](const char* keyword, std::string value) {
    settings.keywords.emplace_back(keyword);
    settings.values.push_back(std::move(value));
  };
  // Defaults the url may override. Keepalives and tcp_user_timeout notice a peer that vanished
  // without closing the connection.
  if (!timeout_given) add("connect_timeout", std::to_string(connect_timeout));
  add("keepalives", "1");
  add("keepalives_idle", "10");
  add("keepalives_interval", "5");
  add("keepalives_count", "3");
  add("tcp_user_timeout", "15000");
  add("application_name", "shardjob");
  add("options", "-c statement_timeout=" + std::to_string(statement_timeout_ms));
  add("dbname", url);  // expanded into its parameters: a later keyword wins over it
  add("client_encoding", "UTF8");
  if (timeout_given) add("connect_timeout", std::to_string(connect_timeout));
  return settings;
}

}  // namespace shardjob::tracers
