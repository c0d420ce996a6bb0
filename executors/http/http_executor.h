#pragma once

#include "executors/http/http_exchange.h"
#include "executors/http/http_job_props.h"
#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::executors {

// HTTP: ElasticJob's HttpJobExecutor. Sends one request per shard, configured by props only (see
// HttpJobProps and docs/http-job.md), and succeeds iff a 2xx answer comes back.
//
// Every request carries the header `shardingContext: <JSON>` (spi::ToJson, the SCRIPT executor's
// JSON); a GET also carries it as the query parameter `shardingContext=<percent-encoded JSON>`.
// http.data is the body of POST, PUT, PATCH and of DELETE when non-empty.
//
// Outcomes: 2xx -> OK; any other status -> Failed("<METHOD> <url> answered HTTP <code>: <first
// KiB of the body>"), redirects included (they are not followed); no connection within the
// connect timeout, or silent for longer than the read timeout once connected -> TimedOut; name
// not resolved or connection refused -> Unavailable; any other transport error -> Failed with
// libcurl's reason; ctx.cancellation raised -> Cancelled, within about 50 ms, the connection
// closed. ElasticJob only logs a status >= 400; here it fails the task, so the kernel's error
// handler sees it.
//
// Thread-safe: Execute() runs concurrently for different shards; each call makes its own libcurl
// handles and the object is immutable after construction.
class HttpExecutor : public spi::JobExecutor {
 public:
  // Throws std::invalid_argument naming the prop when a prop is missing or malformed.
  explicit HttpExecutor(const spi::PluginContext& context);

  const char* JobInterface() const override;
  spi::Status Execute(spi::JobObject* job, const spi::ShardingContext& context) noexcept override;

 private:
  HttpRequest BuildRequest(const spi::ShardingContext& context) const;
  spi::Status Judge(const HttpOutcome& outcome, const spi::ShardingContext& context) const;

  // The kernel guarantees the logger outlives every object built with it.
  spi::Logger& logger_;
  HttpJobProps props_;
  // "Name: value" lines for libcurl, computed once from props_.
  std::vector<std::string> fixed_header_lines_;
};

}  // namespace shardjob::executors
