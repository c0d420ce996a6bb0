// PluginRegistry against real libraries: the fixtures in tests/plugin/fixtures are built as plugins
// (one directory each under SHARDJOB_FIXTURE_DIR) and loaded with dlopen like any other.

#include <dlfcn.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "plugin/plugin_registry.h"
#include "shardjob/spi/abi.h"

namespace shardjob::plugin {
namespace {

std::string Fixture(std::string_view relative) {
  return std::string(SHARDJOB_FIXTURE_DIR) + "/" + std::string(relative);
}

const std::string kGood = Fixture("good/plugin_fixture_good.so");

class NullLogger final : public spi::Logger {
 public:
  void Log(spi::LogLevel /*level*/, std::string_view /*message*/) override {}
};

// What a factory is given; the context refers to these, so they must outlive it.
struct ContextParts {
  spi::Properties props;
  NullLogger logger;

  spi::PluginContext Context(std::string job_name = "") {
    return spi::PluginContext{props, logger, std::move(job_name)};
  }
};

// Whether the dynamic linker still has `file` mapped. RTLD_NOLOAD never loads it, only finds it.
bool IsMapped(const std::string& file) {
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);
  return true;
}

// Loads `file` into a fresh registry, which must refuse it and register nothing, and returns the
// refusal's reason.
std::string RefusalOf(const std::string& file) {
  PluginRegistry registry;
  EXPECT_FALSE(registry.LoadLibrary(file));
  EXPECT_TRUE(registry.Types().empty());
  if (registry.Refused().size() != 1) {
    ADD_FAILURE() << "expected one refusal, got " << registry.Refused().size();
    return "";
  }
  EXPECT_EQ(registry.Refused()[0].file, file);
  return registry.Refused()[0].reason;
}

std::string CreateError(const PluginRegistry& registry, const std::string& type,
                        spi::PluginContext context) {
  try {
    registry.Create<spi::ShardingStrategy>(type, context);
  } catch (const PluginError& e) {
    return e.what();
  }
  ADD_FAILURE() << "Create(" << type << ") did not throw";
  return "";
}

// --- Loading a good library -------------------------------------------------------------------

TEST(PluginRegistryTest, LoadsEveryTypeOfAGoodLibrary) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  EXPECT_TRUE(registry.Refused().empty());

  std::vector<LoadedType> types = registry.Types();
  ASSERT_EQ(types.size(), 4u);
  // Sorted by (kind, type).
  EXPECT_EQ(types[0].kind, spi::kExecutorKind);
  EXPECT_EQ(types[0].type, "FIXTURE_OK");
  EXPECT_EQ(types[1].kind, spi::kExecutorKind);
  EXPECT_EQ(types[1].type, "FIXTURE_OTHER");
  EXPECT_EQ(types[2].kind, spi::kJobListenerKind);
  EXPECT_EQ(types[2].type, "FIXTURE_LISTENER");
  EXPECT_EQ(types[3].kind, spi::kShardingStrategyKind);
  EXPECT_EQ(types[3].type, "FIXTURE_STRATEGY");
  for (const LoadedType& type : types) {
    EXPECT_EQ(type.file, kGood);
    EXPECT_EQ(type.plugin_name, "fixture-good");
    EXPECT_EQ(type.abi_version, SHARDJOB_SPI_ABI_VERSION);
    EXPECT_EQ(type.build_tag, SHARDJOB_SPI_BUILD_TAG);
  }
}

TEST(PluginRegistryTest, TypesOfListsOneKindSorted) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  EXPECT_EQ(registry.TypesOf(spi::kExecutorKind),
            (std::vector<std::string>{"FIXTURE_OK", "FIXTURE_OTHER"}));
  EXPECT_EQ(registry.TypesOf(spi::kShardingStrategyKind),
            std::vector<std::string>{"FIXTURE_STRATEGY"});
  EXPECT_TRUE(registry.TypesOf(spi::kTracerKind).empty());
  EXPECT_TRUE(registry.TypesOf("teleporter").empty());
}

TEST(PluginRegistryTest, HasNeedsTheKindAndTheType) {
  PluginRegistry registry;
  EXPECT_FALSE(registry.Has(spi::kExecutorKind, "FIXTURE_OK"));
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  EXPECT_TRUE(registry.Has(spi::kExecutorKind, "FIXTURE_OK"));
  EXPECT_TRUE(registry.Has(spi::kJobListenerKind, "FIXTURE_LISTENER"));
  EXPECT_FALSE(registry.Has(spi::kTracerKind, "FIXTURE_OK"));
  EXPECT_FALSE(registry.Has(spi::kExecutorKind, "fixture_ok"));
}

// --- Refusals: one per cause ------------------------------------------------------------------

TEST(PluginRefusalTest, NotASharedObject) {
  const std::string file = Fixture("not_elf/junk.so");
  const std::string reason = RefusalOf(file);
  // The rest is the dynamic linker's own words ("file too short", "invalid ELF header").
  EXPECT_EQ(reason.rfind("not a loadable shared object: " + file + ": ", 0), 0u) << reason;
}

TEST(PluginRefusalTest, MissingFile) {
  const std::string file = Fixture("good/no_such_plugin.so");
  EXPECT_EQ(RefusalOf(file), "not a loadable shared object: " + file +
                                 ": cannot open shared object file: No such file or directory");
}

TEST(PluginRefusalTest, UndefinedSymbolIsFoundAtLoadTime) {
  const std::string file = Fixture("undefined_symbol/plugin_fixture_undefined_symbol.so");
  const std::string reason = RefusalOf(file);
  EXPECT_EQ(reason.rfind("not a loadable shared object: " + file + ": ", 0), 0u) << reason;
  EXPECT_NE(reason.find("undefined symbol: shardjob_fixture_nowhere_defined"), std::string::npos)
      << reason;
}

TEST(PluginRefusalTest, NoManifestSymbol) {
  EXPECT_EQ(RefusalOf(Fixture("no_manifest/plugin_fixture_no_manifest.so")),
            "no shardjob_plugin_manifest symbol: not a shardjob plugin (a plugin declares itself "
            "with SHARDJOB_PLUGIN)");
}

TEST(PluginRefusalTest, NullManifest) {
  EXPECT_EQ(RefusalOf(Fixture("null_manifest/plugin_fixture_null_manifest.so")),
            "shardjob_plugin_manifest() returned a null manifest");
}

TEST(PluginRefusalTest, ManifestFunctionThatThrows) {
  EXPECT_EQ(RefusalOf(Fixture("throwing_manifest/plugin_fixture_throwing_manifest.so")),
            "shardjob_plugin_manifest() threw: fixture manifest exploded");
}

TEST(PluginRefusalTest, WrongAbiVersion) {
  EXPECT_EQ(RefusalOf(Fixture("wrong_abi/plugin_fixture_wrong_abi.so")),
            "built against SPI ABI version 999, this kernel uses " +
                std::to_string(SHARDJOB_SPI_ABI_VERSION));
}

TEST(PluginRefusalTest, WrongBuildTag) {
  EXPECT_EQ(RefusalOf(Fixture("wrong_build_tag/plugin_fixture_wrong_build_tag.so")),
            std::string("built with 'othercc-1/otherlib', this kernel with '") +
                SHARDJOB_SPI_BUILD_TAG +
                "' (a plugin must use the kernel's compiler and standard library)");
}

TEST(PluginRefusalTest, NoEntries) {
  EXPECT_EQ(RefusalOf(Fixture("no_entries/plugin_fixture_no_entries.so")),
            "manifest declares no entries");
}

// The next four libraries start with a valid entry: refusing must drop it as well.

TEST(PluginRefusalTest, UnknownKind) {
  EXPECT_EQ(RefusalOf(Fixture("unknown_kind/plugin_fixture_unknown_kind.so")),
            "entries[1] has unknown kind 'teleporter' (known: error_handler, executor, job, "
            "job_listener, shard_source, sharding_strategy, trace_history, tracer)");
}

TEST(PluginRefusalTest, EmptyTypeName) {
  EXPECT_EQ(RefusalOf(Fixture("empty_type/plugin_fixture_empty_type.so")),
            "entries[1] (executor) has no type name");
}

TEST(PluginRefusalTest, NullFactory) {
  EXPECT_EQ(RefusalOf(Fixture("null_factory/plugin_fixture_null_factory.so")),
            "entries[1] (executor 'FIXTURE_NO_FACTORY') has a null factory");
}

TEST(PluginRefusalTest, TypeDeclaredTwiceInOneManifest) {
  EXPECT_EQ(RefusalOf(Fixture("declared_twice/plugin_fixture_declared_twice.so")),
            "executor type 'FIXTURE_TWICE' is declared twice in the manifest");
}

TEST(PluginRefusalTest, TypeAlreadyRegisteredByAnotherLibrary) {
  const std::string first = Fixture("duplicate/plugin_fixture_dup_a.so");
  const std::string second = Fixture("duplicate/plugin_fixture_dup_b.so");
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(first));
  EXPECT_FALSE(registry.LoadLibrary(second));

  ASSERT_EQ(registry.Refused().size(), 1u);
  EXPECT_EQ(registry.Refused()[0].file, second);
  EXPECT_EQ(registry.Refused()[0].reason,
            "executor type 'FIXTURE_DUP' of " + second + " is already registered by " + first);
  // The first library keeps the type.
  ASSERT_EQ(registry.Types().size(), 1u);
  EXPECT_EQ(registry.Types()[0].file, first);
  EXPECT_EQ(registry.Types()[0].plugin_name, "fixture-dup-a");
}

TEST(PluginRefusalTest, SameLibraryLoadedTwice) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  EXPECT_FALSE(registry.LoadLibrary(kGood));
  ASSERT_EQ(registry.Refused().size(), 1u);
  EXPECT_EQ(registry.Refused()[0].reason, "already loaded (as " + kGood + ")");
  EXPECT_EQ(registry.Types().size(), 4u);
}

TEST(PluginRefusalTest, RefusedLibraryIsClosedAgain) {
  const std::string file = Fixture("wrong_abi/plugin_fixture_wrong_abi.so");
  PluginRegistry registry;
  EXPECT_FALSE(registry.LoadLibrary(file));
  EXPECT_FALSE(IsMapped(file));
}

// --- LoadDirectory ----------------------------------------------------------------------------

TEST(LoadDirectoryTest, MissingDirectoryThrows) {
  const std::string dir = Fixture("no_such_directory");
  PluginRegistry registry;
  try {
    registry.LoadDirectory(dir);
    FAIL() << "LoadDirectory did not throw";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin directory '" + dir + "' does not exist");
  }
}

TEST(LoadDirectoryTest, FileInsteadOfDirectoryThrows) {
  PluginRegistry registry;
  try {
    registry.LoadDirectory(kGood);
    FAIL() << "LoadDirectory did not throw";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin directory '" + kGood + "' is not a directory");
  }
}

TEST(LoadDirectoryTest, GoodLibrariesLoadBesideBadOnes) {
  PluginRegistry registry;
  registry.LoadDirectory(Fixture("mixed"));

  EXPECT_TRUE(registry.Has(spi::kExecutorKind, "FIXTURE_OK"));
  EXPECT_EQ(registry.Types().size(), 4u);
  for (const LoadedType& type : registry.Types()) {
    EXPECT_EQ(type.file, Fixture("mixed/plugin_fixture_mixed_good.so"));
  }
  // In name order; README.txt, libversioned.so.1 and the directory directory.so are not tried.
  ASSERT_EQ(registry.Refused().size(), 2u);
  EXPECT_EQ(registry.Refused()[0].file, Fixture("mixed/junk.so"));
  EXPECT_EQ(registry.Refused()[0].reason.rfind("not a loadable shared object: ", 0), 0u);
  EXPECT_EQ(registry.Refused()[1].file, Fixture("mixed/plugin_fixture_mixed_wrong_abi.so"));
  EXPECT_EQ(registry.Refused()[1].reason.rfind("built against SPI ABI version 999", 0), 0u);
}

TEST(LoadDirectoryTest, FirstLibraryByNameWinsAClash) {
  PluginRegistry registry;
  registry.LoadDirectory(Fixture("duplicate"));
  ASSERT_EQ(registry.Types().size(), 1u);
  EXPECT_EQ(registry.Types()[0].file, Fixture("duplicate/plugin_fixture_dup_a.so"));
  ASSERT_EQ(registry.Refused().size(), 1u);
  EXPECT_EQ(registry.Refused()[0].file, Fixture("duplicate/plugin_fixture_dup_b.so"));
}

// --- Create -----------------------------------------------------------------------------------

TEST(CreateTest, BuildsAnExecutorFromTheContext) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  ContextParts parts;
  std::shared_ptr<spi::JobExecutor> executor =
      registry.Create<spi::JobExecutor>("FIXTURE_OK", parts.Context("billing"));
  ASSERT_NE(executor, nullptr);
  EXPECT_EQ(executor->JobInterface(), nullptr);

  spi::ShardingContext context;
  context.job_name = "billing";
  EXPECT_TRUE(executor->Execute(nullptr, context).ok());
  context.job_name = "other";
  EXPECT_EQ(executor->Execute(nullptr, context).message(), "built for job 'billing'");
}

TEST(CreateTest, BuildsWithTheDefaultConstructor) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  ContextParts parts;
  auto executor = registry.Create<spi::JobExecutor>("FIXTURE_OTHER", parts.Context());
  EXPECT_STREQ(executor->JobInterface(), spi::kSimpleJobInterface);

  auto listener = registry.Create<spi::JobListener>("FIXTURE_LISTENER", parts.Context());
  spi::FireInfo fire;
  EXPECT_FALSE(listener->BeforeFire(fire).ok());
  fire.sharding_items = {0, 1};
  EXPECT_TRUE(listener->BeforeFire(fire).ok());
}

TEST(CreateTest, PassesPropsToTheConstructor) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  ContextParts parts;
  parts.props.Set("fixture.offset", "1");
  auto strategy = registry.Create<spi::ShardingStrategy>("FIXTURE_STRATEGY", parts.Context("j"));

  spi::ShardingPlan plan;
  ASSERT_TRUE(strategy->Shard({"j", 3, {"b", "a"}}, &plan).ok());
  EXPECT_EQ(plan, (spi::ShardingPlan{{"a", {0, 2}}, {"b", {1}}}));
}

TEST(CreateTest, ConstructorThatRejectsItsPropsBecomesAPluginError) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  ContextParts parts;
  parts.props.Set("fixture.offset", "-5");
  EXPECT_EQ(CreateError(registry, "FIXTURE_STRATEGY", parts.Context("billing")),
            "job 'billing': sharding_strategy 'FIXTURE_STRATEGY' from " + kGood +
                " refused its configuration: prop 'fixture.offset' must be between 0 and 1000, "
                "got -5");
  parts.props.Set("fixture.offset", "many");
  EXPECT_EQ(CreateError(registry, "FIXTURE_STRATEGY", parts.Context()),
            "sharding_strategy 'FIXTURE_STRATEGY' from " + kGood +
                " refused its configuration: prop 'fixture.offset' must be an integer, got 'many'");
}

TEST(CreateTest, UnknownTypeListsTheLoadedOnes) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  ASSERT_TRUE(registry.LoadLibrary(Fixture("duplicate/plugin_fixture_dup_a.so")));
  ContextParts parts;
  try {
    registry.Create<spi::JobExecutor>("SCRIPT", parts.Context("billing"));
    FAIL() << "Create did not throw";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()),
              "job 'billing': unknown executor type 'SCRIPT' (loaded: FIXTURE_DUP, FIXTURE_OK, "
              "FIXTURE_OTHER)");
  }
}

TEST(CreateTest, UnknownTypeWhenNothingOfTheKindIsLoaded) {
  PluginRegistry registry;
  ContextParts parts;
  EXPECT_EQ(CreateError(registry, "AVG", parts.Context()),
            "unknown sharding_strategy type 'AVG' (loaded: none)");
}

TEST(CreateTest, TheInterfaceChoosesTheKind) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.LoadLibrary(kGood));
  ContextParts parts;
  // FIXTURE_OK is an executor; asking for a strategy of that name must not call its factory.
  EXPECT_EQ(CreateError(registry, "FIXTURE_OK", parts.Context()),
            "unknown sharding_strategy type 'FIXTURE_OK' (loaded: FIXTURE_STRATEGY)");
}

// --- Lifetime ---------------------------------------------------------------------------------

TEST(LifetimeTest, ObjectKeepsItsLibraryMappedAfterTheRegistryIsGone) {
  ASSERT_FALSE(IsMapped(kGood)) << "another test leaked the library";
  ContextParts parts;
  std::shared_ptr<spi::ShardingStrategy> strategy;
  {
    PluginRegistry registry;
    ASSERT_TRUE(registry.LoadLibrary(kGood));
    strategy = registry.Create<spi::ShardingStrategy>("FIXTURE_STRATEGY", parts.Context());
  }
  ASSERT_TRUE(IsMapped(kGood));
  // Runs the plugin's code through its vtable: this would crash if the library were unmapped.
  spi::ShardingPlan plan;
  ASSERT_TRUE(strategy->Shard({"j", 2, {"only"}}, &plan).ok());
  EXPECT_EQ(plan, (spi::ShardingPlan{{"only", {0, 1}}}));

  // The destructor is plugin code too; the deleter runs it before letting go of the library.
  strategy.reset();
  EXPECT_FALSE(IsMapped(kGood));
}

TEST(LifetimeTest, RegistryAloneKeepsItsLibrariesMapped) {
  {
    PluginRegistry registry;
    ASSERT_TRUE(registry.LoadLibrary(kGood));
    EXPECT_TRUE(IsMapped(kGood));
  }
  EXPECT_FALSE(IsMapped(kGood));
}

}  // namespace
}  // namespace shardjob::plugin
