#pragma once

// How a library declares what it provides. A plugin .cc ends with one SHARDJOB_PLUGIN(...) listing
// its entries:
//
//   SHARDJOB_PLUGIN("script-executor",
//                   shardjob::spi::ExecutorEntry<ScriptExecutor>("SCRIPT"))
//
// The macro exports a single C symbol, shardjob_plugin_manifest, returning the SPI ABI version and
// build tag the library was compiled with and the (kind, type name, factory) entries. The kernel
// refuses a library whose version or tag differs from its own, and a type name already taken.
//
// A factory builds the object from a PluginContext. The class is constructed from
// `const PluginContext&` when it has such a constructor, else with its default constructor. A
// constructor that rejects its props throws (std::invalid_argument, say); the factory catches the
// exception inside the plugin's library and hands the message to the kernel.

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "shardjob/spi/abi.h"
#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/export.h"
#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/job_listener.h"
#include "shardjob/spi/job_object.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/properties.h"
#include "shardjob/spi/shard_source.h"
#include "shardjob/spi/sharding_strategy.h"
#include "shardjob/spi/trace_history.h"
#include "shardjob/spi/tracer.h"

extern "C" {

// Untyped in C; the kernel casts `create` back to the PluginFactory of the entry's kind.
struct shardjob_manifest_entry {
  const char* kind;
  const char* type;
  void (*create)(void);
};

struct shardjob_manifest {
  std::uint32_t abi_version;
  const char* build_tag;
  const char* plugin_name;
  std::uint32_t entry_count;
  const shardjob_manifest_entry* entries;
};

}  // extern "C"

#define SHARDJOB_PLUGIN_MANIFEST_SYMBOL "shardjob_plugin_manifest"

namespace shardjob::spi {

// The kinds of extension point, as written in manifests and printed by `shardjob plugins`.
inline constexpr const char* kExecutorKind = "executor";
inline constexpr const char* kShardingStrategyKind = "sharding_strategy";
inline constexpr const char* kShardSourceKind = "shard_source";
inline constexpr const char* kErrorHandlerKind = "error_handler";
inline constexpr const char* kTracerKind = "tracer";
// Reads back what the tracer of the same type name stored (trace_history.h).
inline constexpr const char* kTraceHistoryKind = "trace_history";
inline constexpr const char* kJobListenerKind = "job_listener";
inline constexpr const char* kJobKind = "job";

// What the kernel hands to a factory. Both references outlive the object built.
struct PluginContext {
  const Properties& props;
  Logger& logger;
  // The job the object is built for; empty for process-wide objects such as a tracer.
  std::string job_name;
};

// A factory returns an object the caller owns, or nullptr with *error set. It never throws.
template <typename Interface>
using PluginFactory = Interface* (*)(const PluginContext& context, std::string* error);

// Builds Impl from the context when it has such a constructor, else with its default one.
template <typename Impl>
Impl Construct(const PluginContext& context) {
  if constexpr (std::is_constructible_v<Impl, const PluginContext&>) {
    return Impl(context);
  } else {
    (void)context;
    return Impl();
  }
}

// Runs `body` and turns any exception into a failed Status. Instantiated in the plugin's library.
template <typename Body>
Status CatchAsStatus(const char* what, Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Failed(std::string(what) + " threw: " + e.what());
  } catch (...) {
    return Status::Failed(std::string(what) + " threw a non-standard exception");
  }
}

template <typename Job>
class GuardedSimpleJob final : public SimpleJobObject {
 public:
  explicit GuardedSimpleJob(const PluginContext& context) : job_(Construct<Job>(context)) {}
  Status Execute(const ShardingContext& context) noexcept override {
    return CatchAsStatus("SimpleJob::Execute", [&] { job_.Execute(context); });
  }

 private:
  Job job_;
};

template <typename Job>
class GuardedDataflowJob final : public DataflowJobObject {
 public:
  explicit GuardedDataflowJob(const PluginContext& context) : job_(Construct<Job>(context)) {}
  Status FetchAndProcess(const ShardingContext& context, std::size_t* fetched) noexcept override {
    *fetched = 0;
    std::vector<typename Job::DataType> data;
    Status status =
        CatchAsStatus("DataflowJob::FetchData", [&] { data = job_.FetchData(context); });
    if (!status.ok() || data.empty()) return status;
    *fetched = data.size();
    return CatchAsStatus("DataflowJob::ProcessData", [&] { job_.ProcessData(context, data); });
  }

 private:
  Job job_;
};

template <typename Interface, typename Impl>
Interface* CreatePluginObject(const PluginContext& context, std::string* error) noexcept {
  try {
    if constexpr (std::is_constructible_v<Impl, const PluginContext&>) {
      return std::make_unique<Impl>(context).release();
    } else {
      return std::make_unique<Impl>().release();
    }
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "factory threw a non-standard exception";
  }
  return nullptr;
}

template <typename Interface, typename Impl>
shardjob_manifest_entry MakeEntry(const char* kind, const char* type) {
  static_assert(std::is_base_of_v<Interface, Impl>, "the class does not implement the interface");
  PluginFactory<Interface> factory = &CreatePluginObject<Interface, Impl>;
  return shardjob_manifest_entry{kind, type, reinterpret_cast<void (*)(void)>(factory)};
}

template <typename Impl>
shardjob_manifest_entry ExecutorEntry(const char* type) {
  return MakeEntry<JobExecutor, Impl>(kExecutorKind, type);
}
template <typename Impl>
shardjob_manifest_entry ShardingStrategyEntry(const char* type) {
  return MakeEntry<ShardingStrategy, Impl>(kShardingStrategyKind, type);
}
template <typename Impl>
shardjob_manifest_entry ShardSourceEntry(const char* type) {
  return MakeEntry<ShardSource, Impl>(kShardSourceKind, type);
}
template <typename Impl>
shardjob_manifest_entry ErrorHandlerEntry(const char* type) {
  return MakeEntry<ErrorHandler, Impl>(kErrorHandlerKind, type);
}
template <typename Impl>
shardjob_manifest_entry TracerEntry(const char* type) {
  return MakeEntry<Tracer, Impl>(kTracerKind, type);
}
// Registered under the same type name as the plugin's TracerEntry, built from the same props.
template <typename Impl>
shardjob_manifest_entry TraceHistoryEntry(const char* type) {
  return MakeEntry<TraceHistory, Impl>(kTraceHistoryKind, type);
}
template <typename Impl>
shardjob_manifest_entry JobListenerEntry(const char* type) {
  return MakeEntry<JobListener, Impl>(kJobListenerKind, type);
}
// A user's SimpleJob class, named in YAML by `class: <type>`.
template <typename Job>
shardjob_manifest_entry SimpleJobEntry(const char* type) {
  return MakeEntry<JobObject, GuardedSimpleJob<Job>>(kJobKind, type);
}
// A user's DataflowJob<T> class, named in YAML by `class: <type>`.
template <typename Job>
shardjob_manifest_entry DataflowJobEntry(const char* type) {
  return MakeEntry<JobObject, GuardedDataflowJob<Job>>(kJobKind, type);
}

}  // namespace shardjob::spi

#define SHARDJOB_PLUGIN(plugin_name, ...)                                                 \
  extern "C" SHARDJOB_PLUGIN_EXPORT const shardjob_manifest* shardjob_plugin_manifest() { \
    static const shardjob_manifest_entry kEntries[] = {__VA_ARGS__};                      \
    static const shardjob_manifest kManifest = {                                          \
        SHARDJOB_SPI_ABI_VERSION, SHARDJOB_SPI_BUILD_TAG, plugin_name,                    \
        static_cast<std::uint32_t>(sizeof(kEntries) / sizeof(kEntries[0])), kEntries};    \
    return &kManifest;                                                                    \
  }
