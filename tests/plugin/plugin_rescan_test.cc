// PluginRegistry::Rescan: plugins copied into a plugin directory while the registry is in use.
// Every test works in its own temporary directory, filled with copies of the fixture libraries
// (tests/plugin/fixtures). Rescan defers files modified less than kSettleTime ago, so the tests set
// mtimes explicitly instead of waiting.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plugin/plugin_registry.h"

namespace shardjob::plugin {
namespace {

namespace fs = std::filesystem;

fs::path Fixture(std::string_view relative) { return fs::path(SHARDJOB_FIXTURE_DIR) / relative; }

const fs::path kGood = Fixture("good/plugin_fixture_good.so");
const fs::path kDupA = Fixture("duplicate/plugin_fixture_dup_a.so");
const fs::path kDupB = Fixture("duplicate/plugin_fixture_dup_b.so");
const fs::path kJunk = Fixture("not_elf/junk.so");
const fs::path kWrongAbi = Fixture("wrong_abi/plugin_fixture_wrong_abi.so");
const fs::path kThrowing = Fixture("throwing_manifest/plugin_fixture_throwing_manifest.so");

class NullLogger final : public spi::Logger {
 public:
  void Log(spi::LogLevel /*level*/, std::string_view /*message*/) override {}
};

struct ContextParts {
  spi::Properties props;
  NullLogger logger;

  spi::PluginContext Context() { return spi::PluginContext{props, logger, ""}; }
};

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  explicit TempDir(std::string_view name) {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("shardjob-rescan-" + std::to_string(::getpid()) + "-" +
                                         test->name() + "-" + std::string(name));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Sets `file`'s mtime `age` in the past: old enough for Rescan unless `age` is small.
void SetAge(const fs::path& file, std::chrono::seconds age) {
  fs::last_write_time(file, fs::file_time_type::clock::now() - age);
}

// Copies `from` to `to` as `cp` would (a new mtime), then makes it old enough for Rescan.
void CopySettled(const fs::path& from, const fs::path& to,
                 std::chrono::seconds age = std::chrono::seconds(60)) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  SetAge(to, age);
}

// Replaces `to` as `mv` would: a new file (new inode) renamed over the old name.
void MoveSettled(const fs::path& from, const fs::path& to, std::chrono::seconds age) {
  fs::path temporary = to;
  temporary += ".tmp";
  fs::copy_file(from, temporary, fs::copy_options::overwrite_existing);
  SetAge(temporary, age);
  fs::rename(temporary, to);
}

std::string ReadAll(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool IsEmpty(const ScanResult& result) {
  return result.loaded.empty() && result.refused.empty() && result.deferred.empty() &&
         result.directory_errors.empty();
}

bool StartsWith(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

// --- New libraries ------------------------------------------------------------------------------

TEST(RescanTest, LoadsALibraryCopiedInAfterStartup) {
  TempDir dir("plugins");
  CopySettled(kGood, dir / "good.so");
  PluginRegistry registry;
  registry.LoadDirectory(dir.path());
  ASSERT_EQ(registry.Types().size(), 4u);

  CopySettled(kDupA, dir / "dup_a.so");
  const ScanResult result = registry.Rescan({dir.path()});

  ASSERT_EQ(result.loaded.size(), 1u);
  EXPECT_EQ(result.loaded[0].kind, spi::kExecutorKind);
  EXPECT_EQ(result.loaded[0].type, "FIXTURE_DUP");
  EXPECT_EQ(result.loaded[0].file, (dir / "dup_a.so").string());
  EXPECT_EQ(result.loaded[0].plugin_name, "fixture-dup-a");
  EXPECT_TRUE(result.refused.empty());
  EXPECT_TRUE(result.deferred.empty());
  EXPECT_TRUE(result.directory_errors.empty());

  EXPECT_TRUE(registry.Has(spi::kExecutorKind, "FIXTURE_DUP"));
  EXPECT_EQ(registry.Types().size(), 5u);
  ContextParts parts;
  auto executor = registry.Create<spi::JobExecutor>("FIXTURE_DUP", parts.Context());
  ASSERT_NE(executor, nullptr);
  EXPECT_TRUE(executor->Execute(nullptr, spi::ShardingContext{}).ok());
  // The library loaded at startup still works beside it.
  EXPECT_NE(registry.Create<spi::JobExecutor>("FIXTURE_OK", parts.Context()), nullptr);
}

TEST(RescanTest, FirstScanOfAnEmptyRegistryLoadsEverything) {
  TempDir dir("plugins");
  CopySettled(kGood, dir / "good.so");
  CopySettled(kDupA, dir / "dup_a.so");
  PluginRegistry registry;
  const ScanResult result = registry.Rescan({dir.path()});
  // Sorted by (kind, type) across both libraries.
  ASSERT_EQ(result.loaded.size(), 5u);
  EXPECT_EQ(result.loaded[0].type, "FIXTURE_DUP");
  EXPECT_EQ(result.loaded[1].type, "FIXTURE_OK");
  EXPECT_EQ(registry.Types().size(), 5u);
}

TEST(RescanTest, BadLibrariesAreRefusedOnceAndTheRegistryKeepsWorking) {
  TempDir dir("plugins");
  CopySettled(kGood, dir / "a_good.so");
  PluginRegistry registry;
  registry.LoadDirectory(dir.path());

  CopySettled(kJunk, dir / "b_junk.so");
  CopySettled(kWrongAbi, dir / "c_wrong_abi.so");
  CopySettled(kThrowing, dir / "d_throwing.so");
  CopySettled(kGood, dir / "e_clash.so");  // the same types as a_good.so
  const ScanResult first = registry.Rescan({dir.path()});

  EXPECT_TRUE(first.loaded.empty());
  ASSERT_EQ(first.refused.size(), 4u);
  EXPECT_EQ(first.refused[0].file, (dir / "b_junk.so").string());
  EXPECT_TRUE(StartsWith(first.refused[0].reason, "not a loadable shared object: "))
      << first.refused[0].reason;
  EXPECT_EQ(first.refused[1].file, (dir / "c_wrong_abi.so").string());
  EXPECT_TRUE(StartsWith(first.refused[1].reason, "built against SPI ABI version 999"))
      << first.refused[1].reason;
  EXPECT_EQ(first.refused[2].file, (dir / "d_throwing.so").string());
  EXPECT_EQ(first.refused[2].reason, "shardjob_plugin_manifest() threw: fixture manifest exploded");
  EXPECT_EQ(first.refused[3].file, (dir / "e_clash.so").string());
  EXPECT_EQ(first.refused[3].reason,
            "executor type 'FIXTURE_OK' of " + (dir / "e_clash.so").string() +
                " is already registered by " + (dir / "a_good.so").string());

  // Nothing of the refused libraries is registered; the good one still builds objects.
  EXPECT_EQ(registry.Types().size(), 4u);
  for (const LoadedType& type : registry.Types()) {
    EXPECT_EQ(type.file, (dir / "a_good.so").string());
  }
  ContextParts parts;
  EXPECT_NE(registry.Create<spi::JobExecutor>("FIXTURE_OK", parts.Context()), nullptr);
  ASSERT_EQ(registry.Refused().size(), 4u);

  // Unchanged files are not tried again, and not reported again.
  const ScanResult second = registry.Rescan({dir.path()});
  EXPECT_TRUE(IsEmpty(second));
  EXPECT_EQ(registry.Refused().size(), 4u);
  EXPECT_EQ(registry.Types().size(), 4u);
}

TEST(RescanTest, LibrariesTriedAtStartupAreNotTriedAgain) {
  TempDir dir("plugins");
  CopySettled(kGood, dir / "good.so");
  CopySettled(kJunk, dir / "junk.so");
  PluginRegistry registry;
  registry.LoadDirectory(dir.path());
  ASSERT_EQ(registry.Refused().size(), 1u);

  EXPECT_TRUE(IsEmpty(registry.Rescan({dir.path()})));
  EXPECT_EQ(registry.Refused().size(), 1u);
  EXPECT_EQ(registry.Types().size(), 4u);
}

TEST(RescanTest, SameFileReachedTwiceIsTriedOnce) {
  TempDir first("first");
  TempDir second("second");
  CopySettled(kDupA, first / "dup_a.so");
  fs::create_symlink(first / "dup_a.so", second / "link.so");
  PluginRegistry registry;
  const ScanResult result = registry.Rescan({first.path(), second.path()});
  EXPECT_EQ(result.loaded.size(), 1u);
  EXPECT_TRUE(result.refused.empty());
  EXPECT_TRUE(registry.Refused().empty());
}

// --- Files still being written ------------------------------------------------------------------

TEST(RescanTest, YoungFileIsDeferredUntilItSettles) {
  TempDir dir("plugins");
  PluginRegistry registry;
  fs::copy_file(kDupA, dir / "dup_a.so");  // mtime: now, as `cp` leaves it

  const ScanResult young = registry.Rescan({dir.path()});
  EXPECT_EQ(young.deferred, std::vector<std::string>{(dir / "dup_a.so").string()});
  EXPECT_TRUE(young.loaded.empty());
  EXPECT_TRUE(young.refused.empty());
  EXPECT_FALSE(registry.Has(spi::kExecutorKind, "FIXTURE_DUP"));

  SetAge(dir / "dup_a.so", PluginRegistry::kSettleTime + std::chrono::seconds(1));
  const ScanResult settled = registry.Rescan({dir.path()});
  EXPECT_TRUE(settled.deferred.empty());
  ASSERT_EQ(settled.loaded.size(), 1u);
  EXPECT_TRUE(registry.Has(spi::kExecutorKind, "FIXTURE_DUP"));
}

TEST(RescanTest, FileCutShortIsRefusedAsIncompleteThenLoadedOnceWhole) {
  TempDir dir("plugins");
  const std::string bytes = ReadAll(kDupA);
  ASSERT_GT(bytes.size(), 4096u);
  const fs::path file = dir / "dup_a.so";
  // A copy that stalled half way for longer than the settle time.
  WriteAll(file, std::string_view(bytes).substr(0, bytes.size() / 2));
  SetAge(file, std::chrono::seconds(60));

  PluginRegistry registry;
  const ScanResult cut = registry.Rescan({dir.path()});
  ASSERT_EQ(cut.refused.size(), 1u);
  EXPECT_TRUE(StartsWith(cut.refused[0].reason, "incomplete: its ELF ")) << cut.refused[0].reason;
  EXPECT_NE(
      cut.refused[0].reason.find("but the file has " + std::to_string(bytes.size() / 2) + " bytes"),
      std::string::npos)
      << cut.refused[0].reason;
  EXPECT_FALSE(registry.Has(spi::kExecutorKind, "FIXTURE_DUP"));
  EXPECT_TRUE(IsEmpty(registry.Rescan({dir.path()})));

  // The copy completes: the file changed, so it is tried again, and its refusal is dropped.
  WriteAll(file, bytes);
  SetAge(file, std::chrono::seconds(30));
  const ScanResult whole = registry.Rescan({dir.path()});
  EXPECT_EQ(whole.loaded.size(), 1u);
  EXPECT_TRUE(whole.refused.empty());
  EXPECT_TRUE(registry.Has(spi::kExecutorKind, "FIXTURE_DUP"));
  EXPECT_TRUE(registry.Refused().empty());
}

// --- Files that change --------------------------------------------------------------------------

TEST(RescanTest, ChangedLoadedLibraryIsRefusedAndNotReplaced) {
  TempDir dir("plugins");
  const fs::path file = dir / "dup.so";
  CopySettled(kDupA, file, std::chrono::seconds(60));
  PluginRegistry registry;
  ASSERT_EQ(registry.Rescan({dir.path()}).loaded.size(), 1u);

  // A new version dropped over the old one the recommended way.
  MoveSettled(kDupB, file, std::chrono::seconds(30));
  const ScanResult changed = registry.Rescan({dir.path()});
  EXPECT_TRUE(changed.loaded.empty());
  ASSERT_EQ(changed.refused.size(), 1u);
  EXPECT_EQ(changed.refused[0].file, file.string());
  EXPECT_TRUE(StartsWith(changed.refused[0].reason,
                         "changed on disk after it was loaded: the loaded copy keeps serving its "
                         "types"))
      << changed.refused[0].reason;

  // The old code still serves the type.
  ASSERT_EQ(registry.Types().size(), 1u);
  EXPECT_EQ(registry.Types()[0].plugin_name, "fixture-dup-a");
  ContextParts parts;
  EXPECT_NE(registry.Create<spi::JobExecutor>("FIXTURE_DUP", parts.Context()), nullptr);

  EXPECT_TRUE(IsEmpty(registry.Rescan({dir.path()})));
  EXPECT_EQ(registry.Refused().size(), 1u);

  // Changed once more: still refused, and still one refusal for the file.
  MoveSettled(kDupA, file, std::chrono::seconds(20));
  EXPECT_EQ(registry.Rescan({dir.path()}).refused.size(), 1u);
  EXPECT_EQ(registry.Refused().size(), 1u);
}

TEST(RescanTest, ChangedRefusedLibraryIsTriedAgain) {
  TempDir dir("plugins");
  const fs::path file = dir / "plugin.so";
  CopySettled(kJunk, file, std::chrono::seconds(60));
  PluginRegistry registry;
  ASSERT_EQ(registry.Rescan({dir.path()}).refused.size(), 1u);
  ASSERT_EQ(registry.Refused().size(), 1u);

  MoveSettled(kWrongAbi, file, std::chrono::seconds(40));
  const ScanResult still_bad = registry.Rescan({dir.path()});
  ASSERT_EQ(still_bad.refused.size(), 1u);
  EXPECT_TRUE(StartsWith(still_bad.refused[0].reason, "built against SPI ABI version 999"));
  // The new reason replaces the old one.
  ASSERT_EQ(registry.Refused().size(), 1u);
  EXPECT_EQ(registry.Refused()[0].reason, still_bad.refused[0].reason);

  MoveSettled(kDupA, file, std::chrono::seconds(20));
  const ScanResult fixed = registry.Rescan({dir.path()});
  EXPECT_EQ(fixed.loaded.size(), 1u);
  EXPECT_TRUE(fixed.refused.empty());
  EXPECT_TRUE(registry.Refused().empty());
  EXPECT_TRUE(registry.Has(spi::kExecutorKind, "FIXTURE_DUP"));
}

TEST(RescanTest, RefusingTheSameFileTwiceKeepsOneRefusal) {
  PluginRegistry registry;
  EXPECT_FALSE(registry.LoadLibrary(kWrongAbi));
  EXPECT_FALSE(registry.LoadLibrary(kWrongAbi));
  EXPECT_EQ(registry.Refused().size(), 1u);
}

// --- Directories --------------------------------------------------------------------------------

TEST(RescanTest, BadDirectoriesAreReportedAndTheOthersScanned) {
  TempDir dir("plugins");
  CopySettled(kDupA, dir / "dup_a.so");
  const fs::path missing = dir / "no_such_directory";
  PluginRegistry registry;
  const ScanResult result = registry.Rescan({missing, dir / "dup_a.so", dir.path()});

  ASSERT_EQ(result.directory_errors.size(), 2u);
  EXPECT_EQ(result.directory_errors[0].dir, missing.string());
  EXPECT_EQ(result.directory_errors[0].reason, "does not exist");
  EXPECT_EQ(result.directory_errors[1].dir, (dir / "dup_a.so").string());
  EXPECT_EQ(result.directory_errors[1].reason, "is not a directory");
  EXPECT_EQ(result.loaded.size(), 1u);
  EXPECT_TRUE(registry.Refused().empty());
}

// --- Concurrency --------------------------------------------------------------------------------

// A rescan loads a library while another thread builds objects and lists types. Run under
// ThreadSanitizer in CI (scripts/test.sh). Each round uses a fresh registry, so every rescan really
// opens, checks and registers libraries.
TEST(RescanRaceTest, RescanRacesWithCreateAndTypes) {
  TempDir dir("plugins");
  CopySettled(kDupA, dir / "dup_a.so");
  CopySettled(kJunk, dir / "junk.so");
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    PluginRegistry registry;
    ASSERT_TRUE(registry.LoadLibrary(kGood));
    std::atomic<bool> started{false};
    std::atomic<bool> scanned{false};
    std::atomic<int> failures{0};

    std::thread reader([&] {
      auto check = [&] {
        ContextParts local;
        if (registry.Create<spi::JobExecutor>("FIXTURE_OK", local.Context()) == nullptr) {
          ++failures;
        }
        const std::size_t types = registry.Types().size();
        if (types != 4 && types != 5) ++failures;
        if (registry.Has(spi::kExecutorKind, "FIXTURE_DUP") &&
            registry.Create<spi::JobExecutor>("FIXTURE_DUP", local.Context()) == nullptr) {
          ++failures;
        }
        const std::size_t executors = registry.TypesOf(spi::kExecutorKind).size();
        if (executors != 2 && executors != 3) ++failures;
        if (registry.Refused().size() > 1) ++failures;
      };
      started.store(true, std::memory_order_release);
      // Until the scan is over, and once more after it, without waiting for anything.
      while (!scanned.load(std::memory_order_acquire)) check();
      check();
      if (registry.Types().size() != 5 || registry.Refused().size() != 1) ++failures;
    });

    // The scan starts once the reader runs, so that the two overlap.
    while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
    const ScanResult result = registry.Rescan({dir.path()});
    scanned.store(true, std::memory_order_release);
    reader.join();

    ASSERT_EQ(failures.load(), 0) << "round " << round;
    ASSERT_EQ(result.loaded.size(), 1u) << "round " << round;
    ASSERT_EQ(result.refused.size(), 1u) << "round " << round;
  }
}

// Two threads rescanning the same directories at once: loads are serialised, so each library is
// loaded once and reported by exactly one of the scans.
TEST(RescanRaceTest, ConcurrentRescansLoadEachLibraryOnce) {
  TempDir dir("plugins");
  CopySettled(kGood, dir / "good.so");
  CopySettled(kDupA, dir / "dup_a.so");
  CopySettled(kJunk, dir / "junk.so");
  for (int round = 0; round < 50; ++round) {
    PluginRegistry registry;
    ScanResult a;
    ScanResult b;
    std::thread other([&] { a = registry.Rescan({dir.path()}); });
    b = registry.Rescan({dir.path()});
    other.join();
    ASSERT_EQ(a.loaded.size() + b.loaded.size(), 5u) << "round " << round;
    ASSERT_EQ(a.refused.size() + b.refused.size(), 1u) << "round " << round;
    ASSERT_EQ(registry.Types().size(), 5u);
    ASSERT_EQ(registry.Refused().size(), 1u);
  }
}

}  // namespace
}  // namespace shardjob::plugin
