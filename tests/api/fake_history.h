#pragma once

// A TraceHistory over events held in memory, recording the last queries it was asked.

#include <algorithm>

#include "shardjob/spi/trace_history.h"

namespace shardjob::api::testing {

class FakeHistory : public spi::TraceHistory {
 public:
  spi::Status QueryExecutions(const spi::ExecutionQuery& query,
                              spi::ExecutionPage* page) noexcept override {
    last_execution_query = query;
    if (!answer.ok()) return answer;
    std::vector<spi::ExecutionEvent> matching;
    for (const spi::ExecutionEvent& event : executions) {
      if (!query.job_name.empty() && event.job_name != query.job_name) continue;
      if (query.sharding_item && event.sharding_item != *query.sharding_item) continue;
      matching.push_back(event);
    }
    page->total = matching.size();
    for (std::size_t i = query.offset; i < matching.size() && page->events.size() < query.limit;
         ++i) {
      page->events.push_back(matching[i]);
    }
    return spi::Status::Ok();
  }

  spi::Status QueryStatus(const spi::StatusQuery& query, spi::StatusPage* page) noexcept override {
    last_status_query = query;
    if (!answer.ok()) return answer;
    page->total = statuses.size();
    for (std::size_t i = query.offset; i < statuses.size() && page->events.size() < query.limit;
         ++i) {
      page->events.push_back(statuses[i]);
    }
    return spi::Status::Ok();
  }

  std::vector<spi::ExecutionEvent> executions;
  std::vector<spi::StatusEvent> statuses;
  spi::Status answer;  // what to answer instead, when not OK
  spi::ExecutionQuery last_execution_query;
  spi::StatusQuery last_status_query;
};

}  // namespace shardjob::api::testing
