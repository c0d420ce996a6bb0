#pragma once

// Loads plugin libraries (Boost.DLL) and builds their objects by type name.
//
// Lifetime rule: every object built here holds a reference to the library that made it (in its
// shared_ptr's deleter), so a library stays mapped while any of its objects lives.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
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
//   already loaded (as <file>)
// and from Rescan only:
//   changed on disk after it was loaded: the loaded copy keeps serving its types (...)
//   incomplete: its ELF section headers end at byte N but the file has M bytes (...)
struct RefusedLibrary {
  std::string file;
  std::string reason;
};

// A plugin directory that Rescan could not look into. reason is one of
//   does not exist
//   is not a directory
//   cannot be accessed: <the system's message>
//   cannot be listed: <the system's message>
struct DirectoryError {
  std::string dir;
  std::string reason;
};

// What one PluginRegistry::Rescan changed. Everything in it is new since the previous scan: files
// that were already loaded or refused and have not changed are not reported again.
struct ScanResult {
  // Types registered by this scan, sorted by (kind, type).
  std::vector<LoadedType> loaded;
  // Libraries refused by this scan, in the order they were tried (see RefusedLibrary).
  std::vector<RefusedLibrary> refused;
  // Files modified too recently to be trusted complete (see Rescan); the next scan tries them.
  std::vector<std::string> deferred;
  // Directories that are missing or unreadable; the other directories were still scanned.
  std::vector<DirectoryError> directory_errors;
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
struct KindOf<spi::TraceHistory> {
  static constexpr const char* value = spi::kTraceHistoryKind;
};
template <>
struct KindOf<spi::JobListener> {
  static constexpr const char* value = spi::kJobListenerKind;
};
template <>
struct KindOf<spi::JobObject> {
  static constexpr const char* value = spi::kJobKind;
};

// Thread-safe. Loads (LoadDirectory, LoadLibrary, Rescan) are serialised with each other, so two
// libraries are never dlopen'ed at once; Has, Types, TypesOf, Refused and Create may run from any
// thread meanwhile and see a library's types all at once or not at all. A type, once registered,
// stays registered with the same library for the registry's life: nothing is ever unloaded or
// replaced. Libraries are never closed while an object built from them lives.
class PluginRegistry {
 public:
  // A file modified less than this long ago may still be being written: Rescan leaves it for a
  // later scan. Two seconds rather than one so that a filesystem keeping whole-second mtimes
  // cannot make a file written 1.9 s ago look 1 s old.
  static constexpr std::chrono::seconds kSettleTime{2};

  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every regular file ending in ".so" in `dir`, in name order. A library that cannot be
  // used is recorded in Refused() and its types are not registered; the others still load.
  // Throws PluginError when `dir` does not exist or is not a directory. Meant for startup: unlike
  // Rescan it loads young files too (nothing should be copying into the directory then).
  void LoadDirectory(const std::filesystem::path& dir);
  // Loads one library; returns false and records it in Refused() when it is refused.
  bool LoadLibrary(const std::filesystem::path& file);

  // Loads the libraries that appeared in `dirs` (each as LoadDirectory lists it: regular files
  // ending in ".so", symlinks followed, dirs in the given order and names sorted within each) since
  // the previous LoadDirectory, LoadLibrary or Rescan, and returns what this scan changed. Never
  // throws for a bad directory or library: those are reported in the result.
  //
  // A file is remembered by its canonical path with its size and mtime once it has been tried, and
  // is not tried again while both stay the same, so a refused library is refused (and reported)
  // once. When a refused file changes it is tried again, and a refusal it had is dropped from
  // Refused() (replaced if it is refused again). When a loaded file changes it is refused without
  // being opened: live code is never replaced, and the old copy keeps serving its types until the
  // process restarts.
  //
  // Dropping a plugin in: `mv` (an atomic rename within one filesystem) is the recommended way,
  // e.g. `cp x.so plugins/.x.so.tmp && mv plugins/.x.so.tmp plugins/x.so` (a name not ending in
  // ".so" is never looked at). A plain `cp x.so plugins/` is safe too: a file whose mtime is less
  // than kSettleTime from now is deferred to a later scan (ScanResult::deferred), and an older
  // 64-bit ELF file shorter than its own section header table says it should be (a copy that
  // stalled for longer than kSettleTime) is refused as incomplete and tried again once it changes.
  // Overwriting a library that is already loaded in place (`cp` onto its name) is never safe: the
  // running process maps that very file. Such a file is refused as changed, but the damage to the
  // mapped copy may already be done; replace a loaded plugin with `mv` and a restart.
  ScanResult Rescan(const std::vector<std::filesystem::path>& dirs);

  bool Has(const std::string& kind, const std::string& type) const;
  // Every registered type, sorted by (kind, type).
  std::vector<LoadedType> Types() const;
  // The latest refusal of each file that has one, in the order they were first refused; a file's
  // refusal is dropped once a changed version of it loads. A copy: other threads may be loading.
  std::vector<RefusedLibrary> Refused() const;
  // The type names registered for a kind, sorted; for "unknown type, known are: ..." messages.
  std::vector<std::string> TypesOf(const std::string& kind) const;

  // Builds an object of a registered type. Throws PluginError, prefixed "job 'j': " when
  // context.job_name is set, when the type is unknown or the factory refuses the configuration:
  //   unknown executor type 'X' (loaded: A, B)          ("(loaded: none)" when there is none)
  //   executor 'X' from <file> refused its configuration: <the factory's message>
  // The factory runs without any of the registry's locks held.
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
  // What is remembered of a file that has been tried, keyed by its canonical path.
  struct FileState {
    std::uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    bool loaded = false;  // its types are registered (as opposed to: it was refused)
  };
  struct Refusal {
    RefusedLibrary library;
    std::filesystem::path key;  // the file's canonical path
  };

  // The following run with load_mutex_ held.
  // Loads `file`; adds its types to result->loaded or its refusal to result->refused when `result`
  // is set. Remembers the file in files_.
  bool LoadLocked(const std::filesystem::path& file, ScanResult* result);
  // Records the refusal, replacing an earlier one of the same file; always returns false.
  bool Refuse(const std::filesystem::path& file, const std::filesystem::path& key,
              std::string reason, ScanResult* result);

  // Returns the new object (as the kind's interface pointer) and the library that keeps it alive.
  void* CreateRaw(const std::string& kind, const std::string& type,
                  const spi::PluginContext& context, std::shared_ptr<void>* library) const;
  // With mutex_ held.
  std::vector<std::string> TypesOfLocked(const std::string& kind) const;

  // Serialises loading: held for a whole LoadDirectory, LoadLibrary or Rescan. Taken before mutex_.
  std::mutex load_mutex_;
  std::map<std::filesystem::path, FileState> files_;  // guarded by load_mutex_

  // Guards what the readers see; held only for short lookups and updates, never across dlopen or a
  // plugin's factory.
  mutable std::shared_mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Registration>> registrations_;
  std::vector<Refusal> refused_;
};

}  // namespace shardjob::plugin
