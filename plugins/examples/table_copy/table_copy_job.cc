#include "table_copy_job.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "copy_props.h"
#include "sqlite_db.h"

namespace shardjob::examples {
namespace {

constexpr char kPropPrefix[] = "copy.";
// How long a connection waits for another one's write lock before the batch fails. The target
// is written by every task of the fire at once; each holds the lock for one batch.
constexpr std::chrono::seconds kBusyTimeout{30};

std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end) return std::nullopt;
  return value;
}

void RefuseUnknownProps(const spi::Properties& props) {
  for (const auto& [key, value] : props.values()) {
    if (key.rfind(kPropPrefix, 0) != 0) continue;  // another plugin's prop
    if (key == kSourceProp || key == kTargetProp || key == kTableProp || key == kKeyProp ||
        key == kBatchProp || key == kRowDelayProp) {
      continue;
    }
    throw std::invalid_argument("unknown prop '" + key + "' (EXAMPLE_TABLE_COPY reads " +
                                kSourceProp + ", " + kTargetProp + ", " + kTableProp + ", " +
                                kKeyProp + ", " + kBatchProp + " and " + kRowDelayProp + ")");
  }
}

struct ShardRange {
  std::int64_t start = 0;
  std::int64_t end = 0;
};

ShardRange ParseRange(const spi::ShardingContext& context) {
  auto param = [&](const char* name) -> std::int64_t {
    auto found = context.shard_params.find(name);
    if (found == context.shard_params.end()) {
      throw std::invalid_argument(std::string("the shard has no '") + name +
                                  "' param: run EXAMPLE_TABLE_COPY with shard_source: "
                                  "EXAMPLE_TABLE_KEY_RANGE");
    }
    std::optional<std::int64_t> value = ParseInt(found->second);
    if (!value) {
      throw std::invalid_argument(std::string("the shard's '") + name + "' param '" +
                                  found->second + "' is not an integer");
    }
    return *value;
  };
  ShardRange range{param("start"), param("end")};
  if (range.end < range.start) {
    throw std::invalid_argument("the shard's range [" + std::to_string(range.start) + ", " +
                                std::to_string(range.end) + ") ends before it starts");
  }
  return range;
}

// CREATE TABLE ... as stored in sqlite_master (always normalised to start with "CREATE TABLE "),
// made safe for several tasks creating it at once.
std::string CreateIfMissing(const std::string& create_sql) {
  static constexpr std::string_view kPrefix = "CREATE TABLE ";
  if (create_sql.compare(0, kPrefix.size(), kPrefix) != 0) {
    throw std::runtime_error("unexpected table definition in the source: " + create_sql);
  }
  return "CREATE TABLE IF NOT EXISTS " + create_sql.substr(kPrefix.size());
}

}  // namespace

std::optional<std::int64_t> ParseLastKey(const std::string& record) {
  static constexpr std::string_view kField = "\"last_key\"";
  std::size_t at = record.find(kField);
  if (at == std::string::npos) return std::nullopt;
  at += kField.size();
  auto skip_spaces = [&] {
    while (at < record.size() && std::isspace(static_cast<unsigned char>(record[at]))) ++at;
  };
  skip_spaces();
  if (at >= record.size() || record[at] != ':') return std::nullopt;
  ++at;
  skip_spaces();
  std::size_t end = at;
  if (end < record.size() && record[end] == '-') ++end;
  while (end < record.size() && std::isdigit(static_cast<unsigned char>(record[end]))) ++end;
  return ParseInt(std::string_view(record).substr(at, end - at));
}

TableCopyJob::TableCopyJob(const spi::PluginContext& context)
    : logger_(context.logger),
      source_(RequiredProp(context.props, kSourceProp, "the path of the source SQLite file")),
      target_(RequiredProp(context.props, kTargetProp, "the path of the target SQLite file")),
      table_(RequiredProp(context.props, kTableProp, "the table to copy")),
      key_(RequiredProp(context.props, kKeyProp, "the table's INTEGER key column")) {
  RefuseUnknownProps(context.props);
  spi::Status status = context.props.GetInt(kBatchProp, 500, 1, 1'000'000, &batch_);
  std::int64_t delay_ms = 0;
  if (status.ok()) status = context.props.GetInt(kRowDelayProp, 0, 0, 60'000, &delay_ms);
  if (!status.ok()) throw std::invalid_argument(status.message());
  row_delay_ = std::chrono::milliseconds(delay_ms);
  if (source_ == target_) {
    throw std::invalid_argument(std::string("props '") + kSourceProp + "' and '" + kTargetProp +
                                "' name the same file '" + source_ + "'");
  }
}

void TableCopyJob::Execute(const spi::ShardingContext& context) {
  const ShardRange range = ParseRange(context);
  const std::string shard_name =
      "[" + std::to_string(range.start) + ", " + std::to_string(range.end) + ")";
  const std::string prefix = "job=" + context.job_name + " fire=" + context.fire_id +
                             " shard=" + std::to_string(context.shard) + "/" +
                             std::to_string(context.shard_count) + " ";

  // Where to start: after the last key a previous run of this task (same fire, same shard)
  // committed and checkpointed, else at the range's start.
  std::int64_t next = range.start;
  if (std::optional<std::string> record = context.LoadCheckpoint()) {
    if (std::optional<std::int64_t> last_key = ParseLastKey(*record)) {
      next = *last_key >= range.end ? range.end : std::max(range.start, *last_key + 1);
      logger_.Log(spi::LogLevel::kInfo, prefix + "resuming shard " + shard_name + " after key " +
                                            std::to_string(*last_key));
    } else {
      logger_.Log(spi::LogLevel::kWarn, prefix + "ignoring checkpoint '" + *record +
                                            "' (no last_key); copying shard " + shard_name +
                                            " from its start");
    }
  }
  if (next >= range.end) {
    logger_.Log(spi::LogLevel::kInfo, prefix + "shard " + shard_name + ": nothing to copy");
    return;
  }

  Database source(source_, /*read_only=*/true, kBusyTimeout);
  Database target(target_, /*read_only=*/false, kBusyTimeout);
  try {
    // Several tasks write the target at once: with a write-ahead log, readers never wait for them.
    target.Exec("PRAGMA journal_mode=WAL");
  } catch (const std::exception& e) {
    logger_.Log(spi::LogLevel::kWarn,
                prefix + "the target stays in rollback-journal mode: " + std::string(e.what()));
  }

  // The target table, from the source's schema (columns and constraints; not its indexes).
  {
    Statement schema(source.handle(),
                     "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1 "
                     "COLLATE NOCASE");
    schema.BindText(1, table_);
    if (!schema.Step()) {
      throw std::runtime_error("the source '" + source_ + "' has no table '" + table_ + "'");
    }
    target.Exec(CreateIfMissing(schema.ColumnText(0)));
  }
  target.Exec(std::string("CREATE TABLE IF NOT EXISTS ") + kProgressTable +
              " (job TEXT NOT NULL, shard_start INTEGER NOT NULL, shard_end INTEGER NOT NULL,"
              " last_key INTEGER NOT NULL, fencing_token INTEGER NOT NULL,"
              " PRIMARY KEY (job, shard_start, shard_end))");

  const std::string table = QuoteIdentifier(table_);
  const std::string key = QuoteIdentifier(key_);
  // The key first (to know where a batch ends), then every column of the row.
  Statement read(source.handle(), "SELECT " + key + ", * FROM " + table + " WHERE " + key +
                                      " >= ?1 AND " + key + " < ?2 ORDER BY " + key + " LIMIT ?3");
  Statement same_key(source.handle(),
                     "SELECT " + key + ", * FROM " + table + " WHERE " + key + " = ?1");
  std::string columns, placeholders;
  for (int i = 1; i < read.ColumnCount(); ++i) {
    columns += (i > 1 ? ", " : "") + QuoteIdentifier(read.ColumnName(i));
    placeholders += (i > 1 ? ", ?" : "?") + std::to_string(i);
  }
  Statement write(target.handle(), "INSERT OR REPLACE INTO " + table + " (" + columns +
                                       ") VALUES (" + placeholders + ")");
  // The fence: the progress row moves only for a token at least as new as the one stored.
  Statement progress(target.handle(),
                     std::string("INSERT INTO ") + kProgressTable +
                         " (job, shard_start, shard_end, last_key, fencing_token)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)"
                         " ON CONFLICT (job, shard_start, shard_end) DO UPDATE SET"
                         " last_key = excluded.last_key, fencing_token = excluded.fencing_token"
                         " WHERE " +
                         kProgressTable + ".fencing_token <= excluded.fencing_token");

  std::int64_t copied = 0;
  std::int64_t last_key = next - 1;
  if (next == range.start) {
    logger_.Log(spi::LogLevel::kInfo, prefix + "copying shard " + shard_name + " (token " +
                                          std::to_string(context.fencing_token) + ")");
  }
  while (true) {
    if (context.IsCancelled()) {
      throw std::runtime_error("cancelled: shard " + shard_name + " stopped after key " +
                               std::to_string(last_key) + " (" + std::to_string(copied) +
                               " rows copied by this run)");
    }
    // One batch from the source, each query its own short read, so the source's log is never
    // held for long.
    std::vector<std::vector<OwnedValue>> rows;
    std::vector<std::int64_t> keys;
    auto take = [&](Statement& query) {
      while (query.Step()) {
        if (!query.ColumnIsInteger(0)) {
          throw std::runtime_error("key column '" + key_ +
                                   "' holds a value that is not an integer: '" +
                                   query.ColumnText(0) + "'");
        }
        keys.push_back(query.ColumnInt64(0));
        std::vector<OwnedValue> row;
        for (int i = 1; i < query.ColumnCount(); ++i) row.push_back(query.CopyColumn(i));
        rows.push_back(std::move(row));
      }
      query.Reset();
    };
    read.BindInt64(1, next);
    read.BindInt64(2, range.end);
    read.BindInt64(3, batch_);
    take(read);
    if (rows.empty()) break;
    const bool full = static_cast<std::int64_t>(rows.size()) == batch_;
    const std::int64_t batch_last = keys.back();
    if (full) {
      // The limit may cut through rows that share the last key, and the next batch starts after
      // that key: take every row with it (the batch may then exceed copy.batch).
      while (!keys.empty() && keys.back() == batch_last) {
        keys.pop_back();
        rows.pop_back();
      }
      same_key.BindInt64(1, batch_last);
      take(same_key);
    }

    // One target transaction: the fenced progress row, then the rows.
    Transaction transaction(target);
    progress.BindText(1, context.job_name);
    progress.BindInt64(2, range.start);
    progress.BindInt64(3, range.end);
    progress.BindInt64(4, batch_last);
    progress.BindInt64(5, context.fencing_token);
    progress.Step();
    const bool accepted = target.Changes() == 1;
    progress.Reset();
    if (!accepted) {
      transaction.Rollback();
      std::string stored = "?";
      Statement token(target.handle(), std::string("SELECT fencing_token FROM ") + kProgressTable +
                                           " WHERE job = ?1 AND shard_start = ?2 AND"
                                           " shard_end = ?3");
      token.BindText(1, context.job_name);
      token.BindInt64(2, range.start);
      token.BindInt64(3, range.end);
      if (token.Step()) stored = std::to_string(token.ColumnInt64(0));
      throw std::runtime_error("fenced off: the target's progress for shard " + shard_name +
                               " carries fencing token " + stored + ", newer than this task's " +
                               std::to_string(context.fencing_token) + "; the batch after key " +
                               std::to_string(last_key) + " was rolled back");
    }
    for (const std::vector<OwnedValue>& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        write.BindValue(static_cast<int>(i + 1), row[i].get());
      }
      write.Step();
      write.Reset();
    }
    transaction.Commit();

    const auto count = static_cast<std::int64_t>(rows.size());
    copied += count;
    last_key = batch_last;
    next = batch_last + 1;  // batch_last < range.end: no overflow
    context.AddItemsProcessed(static_cast<std::uint64_t>(count));
    if (context.checkpoint != nullptr) {
      spi::Status saved =
          context.SaveCheckpoint("{\"last_key\": " + std::to_string(last_key) + "}");
      if (saved.code() == spi::Status::Code::kCancelled) {
        throw std::runtime_error("the claim on shard " + shard_name +
                                 " was lost (checkpoint refused: " + saved.message() +
                                 "); stopped after key " + std::to_string(last_key));
      }
      if (!saved.ok()) {
        // Only the resume point is at risk: a rerun copies again from the previous checkpoint.
        logger_.Log(spi::LogLevel::kWarn, prefix + "checkpoint after key " +
                                              std::to_string(last_key) +
                                              " not saved: " + saved.ToString());
      }
    }
    if (!full) break;  // the range has no more rows
    if (row_delay_.count() > 0) {
      const auto pause = row_delay_ * count;
      if (context.cancellation != nullptr) {
        context.cancellation->WaitFor(pause);  // the loop's check throws when cancelled
      } else {
        std::this_thread::sleep_for(pause);
      }
    }
  }
  logger_.Log(spi::LogLevel::kInfo, prefix + "shard " + shard_name + ": copied " +
                                        std::to_string(copied) + " rows, last key " +
                                        std::to_string(last_key));
}

}  // namespace shardjob::examples
