#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "shardjob/spi/job.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::examples {

// The table the job keeps in the target database, one row per (job, key range): the last key
// copied and the fencing token of the task that copied it.
inline constexpr char kProgressTable[] = "shardjob_copy_progress";

// {"last_key": K} -> K; nullopt when the record does not hold one.
std::optional<std::int64_t> ParseLastKey(const std::string& record);

// EXAMPLE_TABLE_COPY: copies one key range of a table from one SQLite file to another per task,
// a data migration in the style of ShardingSphere-Scaling, in miniature. Run it with
// `shard_source: EXAMPLE_TABLE_KEY_RANGE`, whose params {"start", "end"} say which range.
//
// Props: `copy.source`, `copy.target` (SQLite files), `copy.table`, `copy.key` (an INTEGER
// column), `copy.batch` (rows per target transaction, default 500), `copy.row_delay_ms`
// (default 0: a pause of that many ms per row copied, taken once after each batch, so that a
// demo or a test can kill an instance mid-copy).
//
// Per task: rows with start <= key < end, in key order, in batches (the rows sharing a key in
// the same one). Each batch is one target transaction that (a) records the batch's last key in
// shardjob_copy_progress, only if the token stored there is not newer than this task's fencing
// token (else the transaction is rolled back and the task fails: a runner the kernel has
// replaced cannot write after its successor), and (b) upserts the rows (INSERT OR REPLACE; the
// target table is created from the source's schema when missing). After each commit it saves the
// checkpoint {"last_key": K}; a task that runs again for the same fire and shard (a retry, a
// failover) resumes after K. A batch committed whose checkpoint was not saved is copied again: the
// upsert makes that harmless.
class TableCopyJob : public spi::SimpleJob {
 public:
  explicit TableCopyJob(const spi::PluginContext& context);

  void Execute(const spi::ShardingContext& context) override;

 private:
  spi::Logger& logger_;
  std::string source_;
  std::string target_;
  std::string table_;
  std::string key_;
  std::int64_t batch_ = 500;
  std::chrono::milliseconds row_delay_{0};
};

}  // namespace shardjob::examples
