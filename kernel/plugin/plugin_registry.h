#pragma once

// Loads plugin libraries (Boost.DLL) and builds their objects by type name.
//
// Lifetime rule: every object built here holds a reference to the library that made it (in its
// shared_ptr's deleter), so a library stays mapped while any of its objects lives.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shardjob/spi/plugin.h"

namespace shardjob::plugin {

// A plugin that cannot be loaded or cannot build an object. what() names the file and the reason.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedType {
  std::string kind;  // spi::kExecutorKind, ...
  std::string type;  // "SCRIPT", ...
  std::string file;
  std::string plugin_name;
  std::uint32_t abi_version = 0;
  std::string build_tag;
};

// A library that was not loaded. `reason` does not repeat `file`, except where it names two files
// (a type clash); print them as "<file>: <reason>". The reasons:
//   not a loadable shared object: <the loader's message>
//   no shardjob_plugin_manifest symbol: not a shardjob plugin (...)
//   shardjob_plugin_manifest() returned a null manifest
//   built against SPI ABI version 7, this kernel uses 1
//   built with 'gcc-11/libstdc++-cxx11', this kernel with 'gcc-12/libstdc++-cxx11' (...)
//   manifest declares no entries
//   entries[2] has unknown kind 'teleporter' (known: error_handler, executor, ...)
//   entries[0] (executor) has no type name
//   entries[0] (executor 'SCRIPT') has a null factory
//   executor type 'SCRIPT' is declared twice in the manifest
//   executor type 'SCRIPT' of <file> is already registered by <other file>
struct RefusedLibrary {
  std::string file;
  std::string reason;
};

// Maps an SPI interface to the kind its entries are declared with.
template <typename Interface>
struct KindOf;
template <>
struct KindOf<spi::JobExecutor> {
  static constexpr const char* value = spi::kExecutorKind;
};
template <>
struct KindOf<spi::ShardingStrategy> {
  static constexpr const char* value = spi::kShardingStrategyKind;
};
template <>
struct KindOf<spi::ShardSource> {
  static constexpr const char* value = spi::kShardSourceKind;
};
template <>
struct KindOf<spi::ErrorHandler> {
  static constexpr const char* value = spi::kErrorHandlerKind;
};
template <>
struct KindOf<spi::Tracer> {
  static constexpr const char* value = spi::kTracerKind;
};
template <>
struct KindOf<spi::JobListener> {
  static constexpr const char* value = spi::kJobListenerKind;
};
template <>
struct KindOf<spi::JobObject> {
  static constexpr const char* value = spi::kJobKind;
};

// Not thread-safe while loading: load every library at startup, from one thread (dlopen is not
// safe concurrently everywhere). Once loading is over, the const methods may be called from any
// thread. Libraries are never closed while an object built from them lives.
class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every regular file ending in ".so" in `dir`, in name order. A library that cannot be
  // used is recorded in Refused() and its types are not registered; the others still load.
  // Throws PluginError when `dir` does not exist or is not a directory.
  void LoadDirectory(const std::filesystem::path& dir);
  // Loads one library; returns false and records it in Refused() when it is refused.
  bool LoadLibrary(const std::filesystem::path& file);

  bool Has(const std::string& kind, const std::string& type) const;
  // Every registered type, sorted by (kind, type).
  std::vector<LoadedType> Types() const;
  const std::vector<RefusedLibrary>& Refused() const { return refused_; }
  // The type names registered for a kind, sorted; for "unknown type, known are: ..." messages.
  std::vector<std::string> TypesOf(const std::string& kind) const;

  // Builds an object of a registered type. Throws PluginError, prefixed "job 'j': " when
  // context.job_name is set, when the type is unknown or the factory refuses the configuration:
  //   unknown executor type 'X' (loaded: A, B)          ("(loaded: none)" when there is none)
  //   executor 'X' from <file> refused its configuration: <the factory's message>
  template <typename Interface>
  std::shared_ptr<Interface> Create(const std::string& type,
                                    const spi::PluginContext& context) const {
    std::shared_ptr<void> library;
    void* object = CreateRaw(KindOf<Interface>::value, type, context, &library);
    Interface* typed = static_cast<Interface*>(object);
    return std::shared_ptr<Interface>(typed, [library](Interface* doomed) {
      delete doomed;  // runs the plugin's destructor while `library` still keeps it mapped
    });
  }

 private:
  struct Registration;

  // Records the refusal; always returns false.
  bool Refuse(const std::filesystem::path& file, std::string reason);

  // Returns the new object (as the kind's interface pointer) and the library that keeps it alive.
  void* CreateRaw(const std::string& kind, const std::string& type,
                  const spi::PluginContext& context, std::shared_ptr<void>* library) const;

  std::map<std::pair<std::string, std::string>, std::unique_ptr<Registration>> registrations_;
  std::vector<RefusedLibrary> refused_;
};

}  // namespace shardjob::plugin
