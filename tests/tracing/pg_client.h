#pragma once

// A small libpq client for checking what the POSTGRESQL tracer stored. Every call throws
// std::runtime_error with the server's message on failure, so a test fails loudly.

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

namespace shardjob::testing {

class PgClient {
 public:
  explicit PgClient(const std::string& url);

  // Runs SQL (several statements allowed) that returns no rows.
  void Exec(const std::string& sql);
  // Runs a query with text parameters; each row is its columns as text ("" for NULL).
  std::vector<std::vector<std::string>> Query(const std::string& sql,
                                              const std::vector<std::string>& params = {});
  // The first column of the first row.
  std::string Scalar(const std::string& sql, const std::vector<std::string>& params = {});
  long long Count(const std::string& sql, const std::vector<std::string>& params = {});

 private:
  struct Closer {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };
  std::unique_ptr<PGconn, Closer> conn_;
};

// Creates a database on the server `admin_url` points at (a fresh one per test).
void CreateDatabase(const std::string& admin_url, const std::string& name);

}  // namespace shardjob::testing
