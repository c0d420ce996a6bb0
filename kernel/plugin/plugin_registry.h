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

struct RefusedLibrary {
  std::string file;
  std::string reason;  // "not a shared object: ...", "ABI version 7, kernel expects 1", ...
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

  // Builds an object of a registered type. Throws PluginError naming the kind, type and file when
  // the type is unknown (listing the known ones) or the factory fails (with its message).
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
  struct Library;
  struct Registration;

  // Returns the new object (as the kind's interface pointer) and the library that keeps it alive.
  void* CreateRaw(const std::string& kind, const std::string& type,
                  const spi::PluginContext& context, std::shared_ptr<void>* library) const;

  std::map<std::pair<std::string, std::string>, std::unique_ptr<Registration>> registrations_;
  std::vector<RefusedLibrary> refused_;
};

}  // namespace shardjob::plugin
