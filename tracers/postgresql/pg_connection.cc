#include "tracers/postgresql/pg_connection.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace shardjob::tracers {
namespace {

// libpq prints NOTICEs to stderr by default ("relation ... already exists, skipping" for every
// CREATE ... IF NOT EXISTS). Nothing in them matters to a tracer.
void IgnoreNotice(void*, const char*) {}

// libpq's messages end with a newline and may span lines; a log line wants one.
std::string OneLine(const char* text) {
  std::string line;
  bool pending_break = false;
  for (const char* c = text != nullptr ? text : ""; *c != '\0'; ++c) {
    if (*c == '\n' || *c == '\r') {
      pending_break = !line.empty();
      continue;
    }
    if (pending_break && (*c == ' ' || *c == '\t')) continue;  // a continuation's indent
    if (pending_break) line += "; ";
    pending_break = false;
    line += *c;
  }
  return line.empty() ? "no message" : line;
}

// SQLSTATEs after which the server ends the session (shutdown, crash, starting up, a hot
// standby reached through a moved address): only another connection can succeed.
bool EndsSession(std::string_view state) {
  return state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "25006";
}

// SQLSTATEs that may clear by themselves on the same connection: out of resources (disk,
// memory, connections), a deadlock or serialization failure, a lock or statement timeout.
bool IsTransient(std::string_view state) {
  return state.substr(0, 2) == "53" || state.substr(0, 2) == "40" || state == "57014" ||
         state == "55P03";
}

}  // namespace

spi::Status PgConnection::Open(const std::vector<std::string>& keywords,
                               const std::vector<std::string>& values,
                               std::unique_ptr<PgConnection>* connection) {
  std::vector<const char*> keyword_array;
  std::vector<const char*> value_array;
  for (std::size_t i = 0; i < keywords.size(); ++i) {
    keyword_array.push_back(keywords[i].c_str());
    value_array.push_back(values[i].c_str());
  }
  keyword_array.push_back(nullptr);
  value_array.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keyword_array.data(), value_array.data(), 1);
  if (conn == nullptr) return spi::Status::Unavailable("PostgreSQL: libpq is out of memory");
  std::unique_ptr<PgConnection> opened(new PgConnection(conn));  // PQfinish even when it failed
  if (PQstatus(conn) != CONNECTION_OK) {
    return spi::Status::Unavailable("cannot connect to PostgreSQL: " +
                                    OneLine(PQerrorMessage(conn)));
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  if (PQsetnonblocking(conn, 1) != 0) return opened->Lost("cannot switch to non-blocking mode");
  *connection = std::move(opened);
  return spi::Status::Ok();
}

PgConnection::~PgConnection() { PQfinish(conn_); }

std::string PgConnection::Describe() const {
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  const char* db = PQdb(conn_);
  return std::string(host != nullptr ? host : "?") + ":" + (port != nullptr ? port : "?") + "/" +
         (db != nullptr ? db : "?");
}

spi::Status PgConnection::Execute(const std::string& sql, Clock::time_point deadline) {
  last_sqlstate_.clear();
  if (!usable()) return Lost("the connection is closed");
  if (PQsendQuery(conn_, sql.c_str()) == 0) return Lost(OneLine(PQerrorMessage(conn_)));
  if (spi::Status status = Flush(deadline); !status.ok()) return status;
  spi::Status outcome;
  while (true) {
    Result result;
    if (spi::Status status = NextResult(deadline, &result); !status.ok()) return status;
    if (!result) return outcome;
    const ExecStatusType type = PQresultStatus(result.get());
    if (type != PGRES_COMMAND_OK && type != PGRES_TUPLES_OK && outcome.ok()) {
      outcome = Refused(result.get());
      if (broken_) return outcome;
    }
  }
}

spi::Status PgConnection::ExecutePipeline(const std::vector<Command>& commands,
                                          Clock::time_point deadline,
                                          std::vector<std::vector<Row>>* results) {
  last_sqlstate_.clear();
  if (results != nullptr) results->assign(commands.size(), {});
  if (commands.empty()) return spi::Status::Ok();
  if (!usable()) return Lost("the connection is closed");
  if (PQenterPipelineMode(conn_) != 1) return Lost(OneLine(PQerrorMessage(conn_)));
  for (const Command& command : commands) {
    if (PQsendQueryParams(conn_, command.sql, static_cast<int>(command.values.size()), nullptr,
                          command.values.data(), nullptr, nullptr, 0) == 0) {
      return Lost(OneLine(PQerrorMessage(conn_)));
    }
  }
  if (PQpipelineSync(conn_) == 0) return Lost(OneLine(PQerrorMessage(conn_)));
  if (spi::Status status = Flush(deadline); !status.ok()) return status;

  // Each command's results end with a null. After the first failure the server skips the rest
  // (PGRES_PIPELINE_ABORTED) up to the sync, and the transaction is rolled back.
  spi::Status outcome;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    while (true) {
      Result result;
      if (spi::Status status = NextResult(deadline, &result); !status.ok()) return status;
      if (!result) break;
      const ExecStatusType type = PQresultStatus(result.get());
      if (type == PGRES_PIPELINE_SYNC) return Lost("the pipeline ended early");
      if (type == PGRES_TUPLES_OK && results != nullptr) {
        const int columns = PQnfields(result.get());
        for (int r = 0; r < PQntuples(result.get()); ++r) {
          Row row;
          row.reserve(static_cast<std::size_t>(columns));
          for (int c = 0; c < columns; ++c) {
            if (PQgetisnull(result.get(), r, c) != 0) {
              row.emplace_back(std::nullopt);
            } else {
              row.emplace_back(
                  std::string(PQgetvalue(result.get(), r, c),
                              static_cast<std::size_t>(PQgetlength(result.get(), r, c))));
            }
          }
          (*results)[i].push_back(std::move(row));
        }
      }
      if (type == PGRES_FATAL_ERROR && outcome.ok()) {
        outcome = Refused(result.get());
        if (broken_) return outcome;
      }
    }
  }
  Result sync;
  if (spi::Status status = NextResult(deadline, &sync); !status.ok()) return status;
  if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    return Lost("the pipeline's sync is missing");
  }
  if (PQexitPipelineMode(conn_) != 1) return Lost(OneLine(PQerrorMessage(conn_)));
  return outcome;
}

spi::Status PgConnection::Flush(Clock::time_point deadline) {
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) return spi::Status::Ok();
    if (flushed < 0) return Lost(OneLine(PQerrorMessage(conn_)));
    if (spi::Status status = Wait(POLLIN | POLLOUT, deadline); !status.ok()) return status;
    // Results arriving while we still send are read now: a server that cannot write them
    // stops reading, and both ends would wait for ever.
    if (PQconsumeInput(conn_) == 0) return Lost(OneLine(PQerrorMessage(conn_)));
  }
}

spi::Status PgConnection::NextResult(Clock::time_point deadline, Result* result) {
  while (PQisBusy(conn_) != 0) {
    if (spi::Status status = Wait(POLLIN, deadline); !status.ok()) return status;
    if (PQconsumeInput(conn_) == 0) return Lost(OneLine(PQerrorMessage(conn_)));
  }
  result->reset(PQgetResult(conn_));
  return spi::Status::Ok();
}

spi::Status PgConnection::Wait(short events, Clock::time_point deadline) {
  const int fd = PQsocket(conn_);
  if (fd < 0) return Lost("the connection has no socket");
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Lost("no answer in time; the connection is given up");
    pollfd ready{fd, events, 0};
    const int polled = poll(&ready, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (polled > 0) return spi::Status::Ok();  // errors and hang-ups show in the next read
    if (polled < 0 && errno != EINTR) return Lost(std::string("poll: ") + std::strerror(errno));
  }
}

spi::Status PgConnection::Lost(const std::string& what) {
  broken_ = true;
  return spi::Status::Unavailable("PostgreSQL " + Describe() + ": " + what);
}

spi::Status PgConnection::Refused(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  last_sqlstate_ = state != nullptr ? state : "";
  std::string message = OneLine(PQresultErrorMessage(result));
  // libpq's own errors (the server closed the connection) carry no SQLSTATE.
  if (PQstatus(conn_) == CONNECTION_BAD || last_sqlstate_.empty() || EndsSession(last_sqlstate_)) {
    return Lost(message);
  }
  message = "PostgreSQL " + Describe() + ": " + message;
  if (IsTransient(last_sqlstate_)) return spi::Status::Unavailable(std::move(message));
  return spi::Status::Failed(std::move(message));
}

}  // namespace shardjob::tracers
