// The table copy example (plugins/examples/table_copy), its sources compiled in directly: the
// key-range shard source over a real SQLite file, and the copy job with a fake checkpoint store,
// fencing tokens and cancellation, against real SQLite files in a temp dir.

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "key_range_source.h"
#include "shardjob/spi/plugin.h"
#include "sqlite_db.h"
#include "support/test_support.h"
#include "table_copy_job.h"

namespace shardjob::examples {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Code = spi::Status::Code;

class RecordingLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.emplace_back(message);
  }
  std::string All() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string all;
    for (const std::string& line : lines_) all += line + "\n";
    return all;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// The kernel's checkpoint store, in memory: what Load returns, every Save, and a hook that
// decides each save's status (1 for the first save).
class FakeCheckpoint : public spi::Checkpoint {
 public:
  std::optional<std::string> Load() const noexcept override { return record; }
  spi::Status Save(const std::string& value) noexcept override {
    saves.push_back(value);
    spi::Status status = on_save ? on_save(static_cast<int>(saves.size())) : spi::Status::Ok();
    if (status.ok()) record = value;
    return status;
  }

  std::optional<std::string> record;
  std::vector<std::string> saves;
  std::function<spi::Status(int)> on_save;
};

// One task's context and everything it points at.
struct Task {
  Task(std::int64_t start, std::int64_t end, std::int64_t token, int shard = 0, int count = 1) {
    context.job_name = "migrate";
    context.fire_id = "1700000000000";
    context.instance_id = "test@1";
    context.sharding_item = context.shard = shard;
    context.sharding_total_count = context.shard_count = count;
    context.shard_label = "orders [" + std::to_string(start) + ", " + std::to_string(end) + ")";
    context.shard_params = {{"start", std::to_string(start)}, {"end", std::to_string(end)}};
    context.fencing_token = token;
    context.cancellation = &cancellation;
    context.progress = &progress;
    context.checkpoint = &checkpoint;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  spi::ShardingContext context;
  spi::Cancellation cancellation;
  spi::TaskProgress progress;
  FakeCheckpoint checkpoint;
};

// orders(id INTEGER PRIMARY KEY, customer, amount, note) with keys first..first+rows-1; every
// fifth note is NULL, the others blobs, so that each storage class goes through the copy.
void MakeSource(const std::string& path, int rows, std::int64_t first = 1) {
  Database db(path, /*read_only=*/false, std::chrono::seconds(5));
  db.Exec(
      "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL, "
      "note BLOB)");
  db.Exec("BEGIN");
  Statement insert(db.handle(),
                   "INSERT INTO orders VALUES (?1, 'customer-' || (?1 % 97), ?1 * 1.25, "
                   "CASE WHEN ?1 % 5 = 0 THEN NULL ELSE zeroblob(?1 % 7) END)");
  for (std::int64_t id = first; id < first + rows; ++id) {
    insert.BindInt64(1, id);
    insert.Step();
    insert.Reset();
  }
  db.Exec("COMMIT");
}

std::int64_t QueryInt(const std::string& path, const std::string& sql) {
  Database db(path, /*read_only=*/false, std::chrono::seconds(5));
  Statement query(db.handle(), sql);
  EXPECT_TRUE(query.Step()) << sql;
  return query.ColumnInt64(0);
}

class TableCopyTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string> Props(int batch, int row_delay_ms = 0) {
    return {{"copy.source", source_},
            {"copy.target", target_},
            {"copy.table", "orders"},
            {"copy.key", "id"},
            {"copy.batch", std::to_string(batch)},
            {"copy.row_delay_ms", std::to_string(row_delay_ms)}};
  }
  std::unique_ptr<TableCopyJob> Job(int batch, int row_delay_ms = 0) {
    props_ = spi::Properties(Props(batch, row_delay_ms));
    return std::make_unique<TableCopyJob>(spi::PluginContext{props_, logger_, "migrate"});
  }
  std::vector<spi::ShardSpec> Generate(int shard_count) {
    spi::Properties props(Props(500));
    KeyRangeSource source(spi::PluginContext{props, logger_, "migrate"});
    std::vector<spi::ShardSpec> shards;
    spi::Status status = source.Generate({"migrate", "1700000000000", shard_count}, &shards);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return shards;
  }
  static std::int64_t Param(const spi::ShardSpec& shard, const char* name) {
    return std::stoll(shard.params.at(name));
  }
  // Rows of the source missing from the target, plus rows of the target not in the source.
  std::int64_t Differences() {
    Database db(target_, /*read_only=*/false, std::chrono::seconds(5));
    db.Exec("ATTACH DATABASE '" + source_ + "' AS src");
    Statement query(db.handle(),
                    "SELECT (SELECT count(*) FROM (SELECT * FROM src.orders EXCEPT SELECT * FROM "
                    "main.orders)) + (SELECT count(*) FROM (SELECT * FROM main.orders EXCEPT "
                    "SELECT * FROM src.orders))");
    EXPECT_TRUE(query.Step());
    return query.ColumnInt64(0);
  }
  std::int64_t TargetCount() { return QueryInt(target_, "SELECT count(*) FROM orders"); }

  testing::TempDir dir_;
  std::string source_ = dir_.File("source.db");
  std::string target_ = dir_.File("target.db");
  RecordingLogger logger_;
  spi::Properties props_;
};

// ---- the key ranges ----

TEST(SplitKeyRangeTest, CutsMinToMaxPlusOneIntoContiguousRanges) {
  auto ranges = SplitKeyRange(1, 10000, 4);
  ASSERT_EQ(ranges.size(), 4u);
  std::vector<std::pair<std::int64_t, std::int64_t>> bounds;
  for (const KeyRange& range : ranges) bounds.emplace_back(range.start, range.end);
  EXPECT_THAT(bounds, ElementsAre(std::pair<std::int64_t, std::int64_t>{1, 2501},
                                  std::pair<std::int64_t, std::int64_t>{2501, 5001},
                                  std::pair<std::int64_t, std::int64_t>{5001, 7501},
                                  std::pair<std::int64_t, std::int64_t>{7501, 10001}));
}

TEST(SplitKeyRangeTest, UnevenCountsGiveTheFirstRangesOneMore) {
  auto ranges = SplitKeyRange(0, 9, 3);  // 10 keys
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].start, 0);
  EXPECT_EQ(ranges[0].end, 4);
  EXPECT_EQ(ranges[1].end, 7);
  EXPECT_EQ(ranges[2].end, 10);

  auto few = SplitKeyRange(5, 5, 3);  // fewer keys than ranges: the rest are empty
  EXPECT_EQ(few[0].start, 5);
  EXPECT_EQ(few[0].end, 6);
  EXPECT_EQ(few[1].start, 6);
  EXPECT_EQ(few[1].end, 6);
  EXPECT_EQ(few[2].start, 6);
  EXPECT_EQ(few[2].end, 6);

  auto negative = SplitKeyRange(-10, 9, 2);
  EXPECT_EQ(negative[0].start, -10);
  EXPECT_EQ(negative[0].end, 0);
  EXPECT_EQ(negative[1].end, 10);
}

TEST(SplitKeyRangeTest, TheWholeInt64RangeBelowItsMaximumFits) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  auto ranges = SplitKeyRange(kMin, kMax - 1, 3);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].start, kMin);
  EXPECT_EQ(ranges[0].end, ranges[1].start);
  EXPECT_EQ(ranges[1].end, ranges[2].start);
  EXPECT_EQ(ranges[2].end, kMax);
  EXPECT_LT(ranges[0].start, ranges[0].end);
  EXPECT_LT(ranges[1].start, ranges[1].end);

  EXPECT_THROW(SplitKeyRange(0, kMax, 2), std::invalid_argument);  // max + 1 overflows
  EXPECT_THROW(SplitKeyRange(0, 10, 0), std::invalid_argument);
  EXPECT_THROW(SplitKeyRange(10, 0, 2), std::invalid_argument);
}

TEST_F(TableCopyTest, SourceReadsMinAndMaxAtFireTime) {
  MakeSource(source_, 10000);
  std::vector<spi::ShardSpec> shards = Generate(4);
  ASSERT_EQ(shards.size(), 4u);
  EXPECT_EQ(shards[0].label, "orders [1, 2501)");
  EXPECT_EQ(shards[3].label, "orders [7501, 10001)");
  EXPECT_EQ(shards[1].params.at("start"), "2501");
  EXPECT_EQ(shards[1].params.at("end"), "5001");

  // Not deterministic: rows added since change the next fire's ranges.
  Database(source_, false, std::chrono::seconds(5))
      .Exec("INSERT INTO orders (id, customer) VALUES (20000, 'late')");
  EXPECT_EQ(Generate(4)[3].label, "orders [15001, 20001)");
  spi::Properties props(Props(500));
  EXPECT_FALSE(KeyRangeSource(spi::PluginContext{props, logger_, "migrate"}).Deterministic());
}

TEST_F(TableCopyTest, AnEmptyTableGivesEmptyRanges) {
  MakeSource(source_, 0);
  std::vector<spi::ShardSpec> shards = Generate(3);
  ASSERT_EQ(shards.size(), 3u);
  for (const spi::ShardSpec& shard : shards) {
    EXPECT_EQ(shard.params.at("start"), shard.params.at("end"));
  }
  // ... which the job copies as nothing, successfully.
  auto job = Job(100);
  Task task(Param(shards[0], "start"), Param(shards[0], "end"), 1);
  EXPECT_NO_THROW(job->Execute(task.context));
  EXPECT_THAT(logger_.All(), HasSubstr("nothing to copy"));
}

TEST_F(TableCopyTest, SourceFailuresAreStatusesNotExceptions) {
  spi::Properties props(Props(500));
  KeyRangeSource source(spi::PluginContext{props, logger_, "migrate"});
  std::vector<spi::ShardSpec> shards{spi::ShardSpec{}};

  spi::Status missing_file = source.Generate({"migrate", "1", 4}, &shards);  // no source yet
  EXPECT_EQ(missing_file.code(), Code::kFailed);
  EXPECT_THAT(missing_file.message(), HasSubstr("source.db"));
  EXPECT_TRUE(shards.empty());

  MakeSource(source_, 10);
  EXPECT_EQ(source.Generate({"migrate", "1", 0}, &shards).code(), Code::kFailed);

  spi::Properties other_table(Props(500));
  other_table.Set("copy.table", "no_such_table");
  spi::Status no_table = KeyRangeSource(spi::PluginContext{other_table, logger_, "migrate"})
                             .Generate({"migrate", "1", 4}, &shards);
  EXPECT_EQ(no_table.code(), Code::kFailed);
  EXPECT_THAT(no_table.message(), HasSubstr("no_such_table"));

  spi::Properties text_key(Props(500));
  text_key.Set("copy.key", "customer");
  spi::Status not_integer = KeyRangeSource(spi::PluginContext{text_key, logger_, "migrate"})
                                .Generate({"migrate", "1", 4}, &shards);
  EXPECT_EQ(not_integer.code(), Code::kFailed);
  EXPECT_THAT(not_integer.message(), HasSubstr("not integers"));
}

TEST_F(TableCopyTest, PropsAreCheckedWhenTheObjectsAreBuilt) {
  auto without = [&](const std::string& key) {
    std::map<std::string, std::string> values = Props(500);
    values.erase(key);
    return spi::Properties(values);
  };
  for (const char* key : {"copy.source", "copy.table", "copy.key"}) {
    spi::Properties props = without(key);
    EXPECT_THROW(KeyRangeSource(spi::PluginContext{props, logger_, "m"}), std::invalid_argument)
        << key;
    EXPECT_THROW(TableCopyJob(spi::PluginContext{props, logger_, "m"}), std::invalid_argument)
        << key;
  }
  spi::Properties no_target = without("copy.target");
  EXPECT_NO_THROW(KeyRangeSource(spi::PluginContext{no_target, logger_, "m"}));
  EXPECT_THROW(TableCopyJob(spi::PluginContext{no_target, logger_, "m"}), std::invalid_argument);

  spi::Properties bad(Props(500));
  bad.Set("copy.batch", "0");
  EXPECT_THROW(TableCopyJob(spi::PluginContext{bad, logger_, "m"}), std::invalid_argument);
  spi::Properties typo(Props(500));
  typo.Set("copy.batch_size", "10");
  try {
    TableCopyJob job(spi::PluginContext{typo, logger_, "m"});
    ADD_FAILURE() << "an unknown copy.* prop was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("copy.batch_size"));
  }
  spi::Properties same(Props(500));
  same.Set("copy.target", source_);
  EXPECT_THROW(TableCopyJob(spi::PluginContext{same, logger_, "m"}), std::invalid_argument);

  // Through the plugin's factory, the constructor's message reaches the kernel.
  std::string error;
  spi::Properties props = without("copy.key");
  spi::JobObject* object =
      spi::CreatePluginObject<spi::JobObject, spi::GuardedSimpleJob<TableCopyJob>>(
          spi::PluginContext{props, logger_, "m"}, &error);
  EXPECT_EQ(object, nullptr);
  EXPECT_THAT(error, HasSubstr("copy.key"));
}

// ---- the copy ----

TEST_F(TableCopyTest, CopiesTenThousandRowsInFourShards) {
  MakeSource(source_, 10000);
  std::vector<spi::ShardSpec> shards = Generate(4);
  auto job = Job(500);
  for (int i = 0; i < 4; ++i) {
    Task task(Param(shards[i], "start"), Param(shards[i], "end"), 100 + i, i, 4);
    job->Execute(task.context);
    EXPECT_EQ(task.progress.items_processed(), 2500u);
    // One checkpoint per committed batch, the last at the range's last key.
    ASSERT_EQ(task.checkpoint.saves.size(), 5u);
    EXPECT_EQ(task.checkpoint.saves.back(),
              "{\"last_key\": " + std::to_string(Param(shards[i], "end") - 1) + "}");
  }
  EXPECT_EQ(TargetCount(), 10000);
  EXPECT_EQ(Differences(), 0);
  EXPECT_EQ(QueryInt(target_,
                     "SELECT count(*) FROM shardjob_copy_progress WHERE job = 'migrate' "
                     "AND last_key = shard_end - 1 AND fencing_token >= 100"),
            4);
  // The target table has the source's schema: the key is its INTEGER PRIMARY KEY again.
  EXPECT_EQ(QueryInt(target_, "SELECT pk FROM pragma_table_info('orders') WHERE name = 'id'"), 1);
}

// A key that is not unique: a batch's limit falls in the middle of a key's rows, and the next
// batch starts after that key, so the batch takes the key's other rows too.
TEST_F(TableCopyTest, RowsSharingAKeyAreNeverSplitAcrossBatches) {
  {
    Database db(source_, false, std::chrono::seconds(5));
    db.Exec(
        "CREATE TABLE events (k INTEGER NOT NULL, seq INTEGER NOT NULL, v TEXT, "
        "PRIMARY KEY (k, seq)) WITHOUT ROWID");
    db.Exec(
        "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 100), "
        "s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 7) "
        "INSERT INTO events SELECT k, seq, 'v' || k || '.' || seq FROM n, s WHERE seq <= k % 7 + "
        "1");
  }
  std::map<std::string, std::string> values = Props(/*batch=*/5);
  values["copy.table"] = "events";
  values["copy.key"] = "k";
  props_ = spi::Properties(values);
  TableCopyJob job(spi::PluginContext{props_, logger_, "migrate"});
  Task task(1, 101, 1);
  job.Execute(task.context);
  const std::int64_t rows = QueryInt(source_, "SELECT count(*) FROM events");
  EXPECT_EQ(QueryInt(target_, "SELECT count(*) FROM events"), rows);
  EXPECT_EQ(task.progress.items_processed(), static_cast<std::uint64_t>(rows));
  Database db(target_, false, std::chrono::seconds(5));
  db.Exec("ATTACH DATABASE '" + source_ + "' AS src");
  Statement missing(db.handle(),
                    "SELECT count(*) FROM (SELECT * FROM src.events EXCEPT SELECT * FROM "
                    "main.events)");
  ASSERT_TRUE(missing.Step());
  EXPECT_EQ(missing.ColumnInt64(0), 0);
}

TEST_F(TableCopyTest, ShardsCopyingAtOnceIntoOneTargetAgree) {
  MakeSource(source_, 10000);
  std::vector<spi::ShardSpec> shards = Generate(4);
  props_ = spi::Properties(Props(/*batch=*/100));
  std::vector<std::unique_ptr<Task>> tasks;
  for (int i = 0; i < 4; ++i) {
    tasks.push_back(
        std::make_unique<Task>(Param(shards[i], "start"), Param(shards[i], "end"), 7, i, 4));
  }
  std::vector<std::thread> threads;
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      spi::GuardedSimpleJob<TableCopyJob> guarded(spi::PluginContext{props_, logger_, "migrate"});
      spi::Status status = guarded.Execute(tasks[i]->context);
      if (!status.ok()) errors[i] = status.ToString();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  EXPECT_EQ(TargetCount(), 10000);
  EXPECT_EQ(Differences(), 0);
  Database target(target_, false, std::chrono::seconds(5));
  Statement mode(target.handle(), "PRAGMA journal_mode");
  ASSERT_TRUE(mode.Step());
  EXPECT_EQ(mode.ColumnText(0), "wal");
}

TEST_F(TableCopyTest, ResumesAfterTheCheckpointsLastKey) {
  MakeSource(source_, 10000);
  auto job = Job(500);
  Task task(1, 10001, 3);
  task.checkpoint.record = "{\"last_key\": 6000}";
  job->Execute(task.context);
  EXPECT_THAT(logger_.All(), HasSubstr("resuming shard [1, 10001) after key 6000"));
  EXPECT_EQ(TargetCount(), 4000);
  EXPECT_EQ(QueryInt(target_, "SELECT min(id) FROM orders"), 6001);
  EXPECT_EQ(QueryInt(target_, "SELECT max(id) FROM orders"), 10000);
  EXPECT_EQ(task.progress.items_processed(), 4000u);
  EXPECT_EQ(task.checkpoint.saves.size(), 8u);
  EXPECT_EQ(task.checkpoint.record, "{\"last_key\": 10000}");

  // A checkpoint at the range's last key leaves nothing to do; an unreadable one, everything.
  Task done(1, 10001, 4);
  done.checkpoint.record = "{\"last_key\": 10000}";
  job->Execute(done.context);
  EXPECT_EQ(done.progress.items_processed(), 0u);
  Task garbled(1, 10001, 5);
  garbled.checkpoint.record = "not json";
  job->Execute(garbled.context);
  EXPECT_EQ(garbled.progress.items_processed(), 10000u);
  EXPECT_THAT(logger_.All(), HasSubstr("ignoring checkpoint 'not json'"));
  EXPECT_EQ(Differences(), 0);
}

TEST_F(TableCopyTest, AStaleFencingTokenIsRefusedAndWritesNothing) {
  MakeSource(source_, 1000);
  auto job = Job(100);
  Task current(1, 1001, 20);
  job->Execute(current.context);
  ASSERT_EQ(Differences(), 0);

  // The source changes; a runner the kernel has since replaced (an older token) tries to copy.
  Database(source_, false, std::chrono::seconds(5))
      .Exec("UPDATE orders SET customer = 'changed' WHERE id IN (1, 500)");
  spi::GuardedSimpleJob<TableCopyJob> guarded(spi::PluginContext{props_, logger_, "migrate"});
  Task stale(1, 1001, 19);
  spi::Status status = guarded.Execute(stale.context);
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_THAT(status.message(), HasSubstr("fenced off"));
  EXPECT_THAT(status.message(), HasSubstr("fencing token 20, newer than this task's 19"));
  EXPECT_TRUE(stale.checkpoint.saves.empty());
  EXPECT_EQ(stale.progress.items_processed(), 0u);
  EXPECT_EQ(QueryInt(target_, "SELECT count(*) FROM orders WHERE customer = 'changed'"), 0);
  EXPECT_EQ(QueryInt(target_, "SELECT fencing_token FROM shardjob_copy_progress"), 20);

  // The current token (a retry of the same claim) and newer ones are let through.
  Task retry(1, 1001, 20);
  EXPECT_TRUE(guarded.Execute(retry.context).ok());
  Task newer(1, 1001, 21);
  EXPECT_TRUE(guarded.Execute(newer.context).ok());
  EXPECT_EQ(QueryInt(target_, "SELECT count(*) FROM orders WHERE customer = 'changed'"), 2);
  EXPECT_EQ(QueryInt(target_, "SELECT fencing_token FROM shardjob_copy_progress"), 21);
  EXPECT_EQ(Differences(), 0);
}

TEST_F(TableCopyTest, AFencedWriterStopsMidCopy) {
  MakeSource(source_, 1000);
  auto job = Job(100);
  Task old_runner(1, 1001, 30);
  // After the old runner's second batch, a new runner (token 31) takes the shard over and
  // commits a batch of its own.
  old_runner.checkpoint.on_save = [&](int save) {
    if (save == 2) {
      Database db(target_, false, std::chrono::seconds(5));
      db.Exec("UPDATE shardjob_copy_progress SET fencing_token = 31");
    }
    return spi::Status::Ok();
  };
  try {
    job->Execute(old_runner.context);
    ADD_FAILURE() << "the fenced runner went on";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("fenced off"));
    EXPECT_THAT(e.what(), HasSubstr("after key 200"));
  }
  EXPECT_EQ(TargetCount(), 200);
  EXPECT_EQ(old_runner.checkpoint.saves.size(), 2u);
}

TEST_F(TableCopyTest, CancellationStopsBetweenBatches) {
  MakeSource(source_, 1000);
  auto job = Job(100);
  Task task(1, 1001, 1);
  task.checkpoint.on_save = [&](int save) {
    if (save == 2) task.cancellation.Cancel();
    return spi::Status::Ok();
  };
  try {
    job->Execute(task.context);
    ADD_FAILURE() << "a cancelled copy reported success";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cancelled"));
    EXPECT_THAT(e.what(), HasSubstr("after key 200"));
  }
  EXPECT_EQ(TargetCount(), 200);  // the batch under way when the flag rose was committed
  EXPECT_EQ(task.checkpoint.saves.size(), 2u);
}

TEST_F(TableCopyTest, ALostClaimStopsTheCopyAtTheCheckpoint) {
  MakeSource(source_, 1000);
  auto job = Job(100);
  Task task(1, 1001, 1);
  task.checkpoint.on_save = [](int) { return spi::Status::Cancelled("the claim is lost"); };
  EXPECT_THROW(job->Execute(task.context), std::runtime_error);
  EXPECT_EQ(TargetCount(), 100);
  EXPECT_EQ(task.checkpoint.saves.size(), 1u);

  // A registry that does not answer only puts the resume point at risk: the copy goes on.
  Task unavailable(1, 1001, 2);
  unavailable.checkpoint.on_save = [](int) { return spi::Status::Unavailable("no registry"); };
  EXPECT_NO_THROW(job->Execute(unavailable.context));
  EXPECT_EQ(Differences(), 0);
  EXPECT_THAT(logger_.All(), HasSubstr("not saved"));
}

TEST_F(TableCopyTest, CancellationCutsTheRowDelayShort) {
  MakeSource(source_, 1000);
  auto job = Job(10, /*row_delay_ms=*/1000);  // 10 s after each batch
  Task task(1, 1001, 1);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    task.cancellation.Cancel();
  });
  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(job->Execute(task.context), std::runtime_error);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(TargetCount(), 10);
}

TEST_F(TableCopyTest, WithoutACheckpointStoreTheCopyStillRuns) {
  MakeSource(source_, 300);
  auto job = Job(100);
  Task task(1, 301, 1);
  task.context.checkpoint = nullptr;
  task.context.cancellation = nullptr;
  job->Execute(task.context);
  EXPECT_EQ(Differences(), 0);
}

TEST_F(TableCopyTest, ATaskWithoutAKeyRangeSaysWhichShardSourceItNeeds) {
  MakeSource(source_, 10);
  auto job = Job(100);
  Task task(1, 11, 1);
  task.context.shard_params.clear();
  try {
    job->Execute(task.context);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("shard_source: EXAMPLE_TABLE_KEY_RANGE"));
  }
  task.context.shard_params = {{"start", "1"}, {"end", "x"}};
  EXPECT_THROW(job->Execute(task.context), std::invalid_argument);
}

TEST(ParseLastKeyTest, ReadsTheCheckpointRecord) {
  EXPECT_EQ(ParseLastKey("{\"last_key\": 42}"), 42);
  EXPECT_EQ(ParseLastKey("{\"last_key\":-7}"), -7);
  EXPECT_EQ(ParseLastKey("{ \"other\": 1, \"last_key\" :  9 }"), 9);
  EXPECT_EQ(ParseLastKey("{\"last_key\": \"9\"}"), std::nullopt);
  EXPECT_EQ(ParseLastKey("{}"), std::nullopt);
  EXPECT_EQ(ParseLastKey("{\"last_key\": 99999999999999999999}"), std::nullopt);
}

}  // namespace
}  // namespace shardjob::examples
