#include "tracing/pg_client.h"

#include <stdexcept>

namespace shardjob::testing {
namespace {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

}  // namespace

PgClient::PgClient(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to " + url + ": " +
                             (conn_ ? PQerrorMessage(conn_.get()) : "out of memory"));
  }
}

void PgClient::Exec(const std::string& sql) {
  Result result(PQexec(conn_.get(), sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + PQerrorMessage(conn_.get()));
  }
}

std::vector<std::vector<std::string>> PgClient::Query(const std::string& sql,
                                                      const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& param : params) values.push_back(param.c_str());
  Result result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + PQerrorMessage(conn_.get()));
  }
  std::vector<std::vector<std::string>> rows;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    std::vector<std::string> columns;
    for (int column = 0; column < PQnfields(result.get()); ++column) {
      columns.emplace_back(PQgetvalue(result.get(), row, column));
    }
    rows.push_back(std::move(columns));
  }
  return rows;
}

std::string PgClient::Scalar(const std::string& sql, const std::vector<std::string>& params) {
  auto rows = Query(sql, params);
  if (rows.empty() || rows[0].empty()) throw std::runtime_error(sql + ": no rows");
  return rows[0][0];
}

long long PgClient::Count(const std::string& sql, const std::vector<std::string>& params) {
  return std::stoll(Scalar(sql, params));
}

void CreateDatabase(const std::string& admin_url, const std::string& name) {
  PgClient(admin_url).Exec("CREATE DATABASE " + name);
}

}  // namespace shardjob::testing
