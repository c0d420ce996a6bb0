// The table copy example end to end: two `shardjob run` processes against a real ZooKeeper copy a
// SQLite table in four key ranges (shard_source: EXAMPLE_TABLE_KEY_RANGE, dynamic sharding,
// failover). One instance is killed with SIGKILL in the middle of a range; the survivor takes
// the range over for the same fire, resumes after the dead runner's last checkpoint, and the
// target ends up equal to the source.

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cluster/cluster_harness.h"
#include "sqlite_db.h"
#include "support/child_process.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using examples::Database;
using examples::Statement;
using testing::ChildProcess;
using testing::ClusterHarness;
using testing::WaitUntil;
using testing::WriteFile;

constexpr auto kWait = std::chrono::seconds(60);
constexpr int kRows = 8000;
constexpr int kBatch = 100;
// 100 rows x 2 ms: a pause of 200 ms after each batch, so a range of 2000 rows takes about 4 s.
constexpr int kRowDelayMs = 2;

struct Range {
  std::int64_t start = 0, end = 0;
  std::string Name() const {
    return "[" + std::to_string(start) + ", " + std::to_string(end) + ")";
  }
};

// The key ranges an instance's log says it started copying ("copying shard [a, b)").
std::vector<Range> CopiedRanges(const std::string& output) {
  static const std::regex kLine(R"(copying shard \[(-?\d+), (-?\d+)\))");
  std::vector<Range> ranges;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), kLine);
       it != std::sregex_iterator(); ++it) {
    ranges.push_back(Range{std::stoll((*it)[1]), std::stoll((*it)[2])});
  }
  return ranges;
}

// Reads whatever the process wrote so far (a full pipe would block its logging).
void Pump(ChildProcess& process) {
  if (!process.Exited()) {
    process.ReadUntil([](const std::string&) { return false; }, std::chrono::milliseconds(10));
  }
}

class TableCopyClusterTest : public ClusterHarness {
 protected:
  TableCopyClusterTest() : ClusterHarness("table-copy", "") {}

  void SetUp() override {
    ClusterHarness::SetUp();
    Database db(source_, /*read_only=*/false, std::chrono::seconds(5));
    db.Exec(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL, "
        "note BLOB)");
    db.Exec("WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < " +
            std::to_string(kRows) +
            ") INSERT INTO orders SELECT id, 'customer-' || (id % 97), id * 1.25, "
            "CASE WHEN id % 5 = 0 THEN NULL ELSE randomblob(id % 13) END FROM n");
  }

  // An instance whose one job (named "job", as the harness expects) copies source_ to target_.
  ChildProcess& StartCopier(const std::string& id) {
    std::string path = dir_.File(id + ".yaml");
    WriteFile(path, "instance_id: " + id +
                        "\n"
                        "registry:\n"
                        "  type: zookeeper\n"
                        "  zookeeper:\n"
                        "    servers: " +
                        server_->connect_string() + "\n    namespace: " + namespace_ +
                        "\n    session_timeout: " + std::to_string(kSessionTimeout.count()) +
                        "ms\n"
                        "    connect_timeout: 10s\n"
                        "plugins:\n"
                        "  dirs: [" SHARDJOB_PLUGIN_DIR
                        "]\n"
                        "shutdown_grace: 3s\n"
                        "jobs:\n"
                        "  - name: job\n"
                        "    class: EXAMPLE_TABLE_COPY\n"
                        "    shard_source: EXAMPLE_TABLE_KEY_RANGE\n"
                        "    sharding_total_count: 4\n"
                        "    sharding_mode: dynamic\n"
                        "    failover: true\n"
                        "    executor_thread_pool: 4\n"
                        "    props:\n"
                        "      copy.source: " +
                        source_ + "\n      copy.target: " + target_ +
                        "\n"
                        "      copy.table: orders\n"
                        "      copy.key: id\n"
                        "      copy.batch: \"" +
                        std::to_string(kBatch) + "\"\n      copy.row_delay_ms: \"" +
                        std::to_string(kRowDelayMs) + "\"\n");
    processes_[id] = std::make_unique<ChildProcess>(
        std::vector<std::string>{SHARDJOB_BINARY, "run", "-c", path});
    return *processes_[id];
  }

  void PumpAll() {
    for (auto& [id, process] : processes_) Pump(*process);
  }

  // The range's last copied key in the target's progress table, if the target has one yet.
  std::optional<std::int64_t> LastKey(const Range& range) {
    try {
      Database db(target_, /*read_only=*/true, std::chrono::seconds(5));
      Statement query(db.handle(),
                      "SELECT last_key FROM shardjob_copy_progress WHERE job = 'job' AND "
                      "shard_start = ?1 AND shard_end = ?2");
      query.BindInt64(1, range.start);
      query.BindInt64(2, range.end);
      if (query.Step()) return query.ColumnInt64(0);
    } catch (const std::exception&) {  // no target file or no table yet
    }
    return std::nullopt;
  }

  // count, sum of keys and a checksum over every column of `table` in the database `schema`.
  static std::string Checksum(Database& db, const std::string& schema) {
    Statement query(db.handle(),
                    "SELECT count(*) || ' ' || total(id) || ' ' || "
                    "total(length(customer) * id) || ' ' || total(amount) || ' ' || "
                    "total(coalesce(length(note), -1) * id) || ' ' || "
                    "count(note) FROM " +
                        schema + ".orders");
    EXPECT_TRUE(query.Step());
    return query.ColumnText(0);
  }

  std::string source_ = dir_.File("source.db");
  std::string target_ = dir_.File("target.db");
};

TEST_F(TableCopyClusterTest, KillNineMidCopyResumesFromTheCheckpointAndTheCopyIsExact) {
  StartCopier("a");
  StartCopier("b");
  ASSERT_TRUE(WaitUntil(
      [&] {
        PumpAll();
        return Instances().size() == 2;
      },
      kWait))
      << processes_.at("a")->output() << processes_.at("b")->output();
  const std::string fire = Trigger();

  // The victim: b if it copies a range, else a. Killed once one of its ranges has committed at
  // least two batches (so its first checkpoint is saved) and is not finished.
  std::string victim;
  Range interrupted;
  ASSERT_TRUE(WaitUntil(
      [&] {
        PumpAll();
        for (const char* id : {"b", "a"}) {
          for (const Range& range : CopiedRanges(processes_.at(id)->output())) {
            std::optional<std::int64_t> last = LastKey(range);
            if (last && *last >= range.start + 2 * kBatch - 1 && *last < range.end - kBatch) {
              victim = id;
              interrupted = range;
              return true;
            }
          }
        }
        return false;
      },
      kWait))
      << "a:\n"
      << processes_.at("a")->output() << "b:\n"
      << processes_.at("b")->output();
  Kill(victim);
  const std::int64_t at_kill = LastKey(interrupted).value_or(-1);
  const std::string survivor = victim == "a" ? "b" : "a";
  ChildProcess& rest = *processes_.at(survivor);
  std::printf("killed %s while it copied %s (last key %lld); %s runs on\n", victim.c_str(),
              interrupted.Name().c_str(), static_cast<long long>(at_kill), survivor.c_str());

  // The survivor takes the range over for the same fire and resumes after a checkpoint the dead
  // runner saved, not from the range's start.
  const std::regex resumed("resuming shard \\[" + std::to_string(interrupted.start) + ", " +
                           std::to_string(interrupted.end) + "\\) after key (\\d+)");
  std::smatch match;
  ASSERT_TRUE(WaitUntil(
      [&] {
        Pump(rest);
        return std::regex_search(rest.output(), match, resumed);
      },
      kWait))
      << survivor << ":\n"
      << rest.output() << "\n"
      << victim << ":\n"
      << processes_.at(victim)->output();
  const std::int64_t resumed_after = std::stoll(match[1]);
  std::printf("%s: %s\n", survivor.c_str(), match[0].str().c_str());
  EXPECT_GE(resumed_after, interrupted.start + kBatch - 1);
  EXPECT_LE(resumed_after, at_kill);

  // Every range of the fire is committed, and the target equals the source.
  ASSERT_TRUE(WaitUntil(
      [&] {
        Pump(rest);
        return Committed(fire, {0, 1, 2, 3});
      },
      kWait))
      << rest.output();
  for (int item = 0; item < 4; ++item) {
    EXPECT_EQ(State(item).value("committed_fire", ""), fire) << State(item).dump();
  }
  {
    Database db(target_, /*read_only=*/false, std::chrono::seconds(10));
    db.Exec("ATTACH DATABASE '" + source_ + "' AS src");
    const std::string source_sum = Checksum(db, "src");
    EXPECT_EQ(Checksum(db, "main"), source_sum);
    EXPECT_THAT(source_sum, ::testing::StartsWith(std::to_string(kRows) + " "));
    Statement differences(db.handle(),
                          "SELECT (SELECT count(*) FROM (SELECT * FROM src.orders EXCEPT "
                          "SELECT * FROM main.orders)) + (SELECT count(*) FROM (SELECT * FROM "
                          "main.orders EXCEPT SELECT * FROM src.orders))");
    ASSERT_TRUE(differences.Step());
    EXPECT_EQ(differences.ColumnInt64(0), 0);
    Statement progress(db.handle(),
                       "SELECT count(*) FROM shardjob_copy_progress WHERE job = 'job' AND "
                       "last_key = shard_end - 1");
    ASSERT_TRUE(progress.Step());
    EXPECT_EQ(progress.ColumnInt64(0), 4);
  }
  // The resumed range copied only what was left after the checkpoint.
  const std::regex rest_copied("shard \\[" + std::to_string(interrupted.start) + ", " +
                               std::to_string(interrupted.end) + "\\): copied (\\d+) rows");
  ASSERT_TRUE(WaitUntil(
      [&] {
        Pump(rest);
        return std::regex_search(rest.output(), match, rest_copied);
      },
      kWait))
      << rest.output();
  EXPECT_EQ(std::stoll(match[1]), interrupted.end - 1 - resumed_after);
  StopAll();
}

}  // namespace
}  // namespace shardjob
