#include "plugin/plugin_registry.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <exception>
#include <fstream>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "plugin/kinds.h"
#include "plugin/plugin_library.h"

namespace shardjob::plugin {
namespace {

namespace fs = std::filesystem;

std::string JobPrefix(const spi::PluginContext& context) {
  return context.job_name.empty() ? std::string() : "job '" + context.job_name + "': ";
}

std::string Join(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

// The plugin libraries in `dir`, sorted by name; or false with *reason set (a DirectoryError
// reason).
bool ListLibraries(const fs::path& dir, std::vector<fs::path>* files, std::string* reason) {
  std::error_code error;
  const fs::file_status status = fs::status(dir, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    *reason = "cannot be accessed: " + error.message();
    return false;
  }
  if (!fs::exists(status)) {
    *reason = "does not exist";
    return false;
  }
  if (!fs::is_directory(status)) {
    *reason = "is not a directory";
    return false;
  }
  fs::directory_iterator it(dir, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    std::error_code type_error;
    // is_regular_file follows symlinks, so a link to a plugin elsewhere is loaded too.
    if (it->path().extension() == ".so" && it->is_regular_file(type_error)) {
      files->push_back(it->path());
    }
  }
  if (error) {
    *reason = "cannot be listed: " + error.message();
    return false;
  }
  // Name order makes which of two clashing libraries wins the same on every instance.
  std::sort(files->begin(), files->end());
  return true;
}

// The file's canonical path (symlinks resolved), or the best approximation when it has none.
fs::path KeyOf(const fs::path& file) {
  std::error_code error;
  fs::path key = fs::canonical(file, error);
  if (!error) return key;
  key = fs::weakly_canonical(file, error);
  if (!error) return key;
  return file.lexically_normal();
}

// Whether a file modified at `mtime` may still be being written (see kSettleTime). An mtime far in
// the future cannot come from a write in progress on this clock, so it does not count as young.
bool IsYoung(fs::file_time_type mtime) {
  const auto age = fs::file_time_type::clock::now() - mtime;
  return age < PluginRegistry::kSettleTime && age > -PluginRegistry::kSettleTime;
}

// For a 64-bit ELF file of this machine's byte order: a refusal reason when the file is shorter
// than its headers say it is (the linker puts the section header table last, so a copy cut short
// loses it first). Empty when the file looks whole or is not such a file (dlopen then judges it).
std::string IncompleteElf(const fs::path& file, std::uintmax_t size) {
  std::ifstream in(file, std::ios::binary);
  Elf64_Ehdr header;
  if (!in.read(reinterpret_cast<char*>(&header), sizeof header)) return "";
  constexpr unsigned char kNativeData =
      std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_ident[EI_DATA] != kNativeData) {
    return "";
  }
  std::uintmax_t end = 0;
  const char* what = "";
  auto need = [&](std::uintmax_t offset, std::uintmax_t length, const char* part) {
    if (offset + length > end) {
      end = offset + length;
      what = part;
    }
  };
  need(header.e_shoff, std::uintmax_t{header.e_shnum} * header.e_shentsize, "section headers");
  need(header.e_phoff, std::uintmax_t{header.e_phnum} * header.e_phentsize, "program headers");
  if (end <= size && header.e_phentsize == sizeof(Elf64_Phdr)) {
    in.seekg(static_cast<std::streamoff>(header.e_phoff));
    for (unsigned i = 0; i < header.e_phnum; ++i) {
      Elf64_Phdr segment;
      if (!in.read(reinterpret_cast<char*>(&segment), sizeof segment)) break;
      if (segment.p_type == PT_LOAD) need(segment.p_offset, segment.p_filesz, "loadable segments");
    }
  }
  if (end <= size) return "";
  return "incomplete: its ELF " + std::string(what) + " end at byte " + std::to_string(end) +
         " but the file has " + std::to_string(size) +
         " bytes (still being copied? it is tried again once it changes)";
}

}  // namespace

struct PluginRegistry::Registration {
  LoadedType info;
  const internal::KindInfo* kind;
  void (*create)(void);  // lives in `library`
  std::shared_ptr<internal::PluginLibrary> library;
};

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

void PluginRegistry::LoadDirectory(const fs::path& dir) {
  std::vector<fs::path> files;
  std::string reason;
  if (!ListLibraries(dir, &files, &reason)) {
    throw PluginError("plugin directory '" + dir.string() + "' " + reason);
  }
  std::lock_guard<std::mutex> load(load_mutex_);
  for (const fs::path& file : files) LoadLocked(file, nullptr);
}

bool PluginRegistry::LoadLibrary(const fs::path& file) {
  std::lock_guard<std::mutex> load(load_mutex_);
  return LoadLocked(file, nullptr);
}

ScanResult PluginRegistry::Rescan(const std::vector<fs::path>& dirs) {
  std::lock_guard<std::mutex> load(load_mutex_);
  ScanResult result;
  std::set<fs::path> seen;  // a file reachable twice (two dirs, symlinks) is tried once
  for (const fs::path& dir : dirs) {
    std::vector<fs::path> files;
    std::string reason;
    if (!ListLibraries(dir, &files, &reason)) {
      result.directory_errors.push_back(DirectoryError{dir.string(), std::move(reason)});
      continue;
    }
    for (const fs::path& file : files) {
      const fs::path key = KeyOf(file);
      if (!seen.insert(key).second) continue;
      std::error_code error;
      FileState now;
      now.size = fs::file_size(file, error);
      if (!error) now.mtime = fs::last_write_time(file, error);
      if (error) continue;  // gone since the listing; a later scan sees what replaced it, if any

      auto known = files_.find(key);
      if (known != files_.end() && known->second.size == now.size &&
          known->second.mtime == now.mtime) {
        continue;  // tried before, unchanged
      }
      if (IsYoung(now.mtime)) {
        result.deferred.push_back(file.string());
        continue;
      }
      if (known != files_.end() && known->second.loaded) {
        known->second.size = now.size;
        known->second.mtime = now.mtime;
        Refuse(file, key,
               "changed on disk after it was loaded: the loaded copy keeps serving its types "
               "(a loaded library is never replaced; restart the process to use the new version)",
               &result);
        continue;
      }
      if (std::string incomplete = IncompleteElf(file, now.size); !incomplete.empty()) {
        files_[key] = now;
        Refuse(file, key, std::move(incomplete), &result);
        continue;
      }
      LoadLocked(file, &result);
    }
  }
  std::sort(result.loaded.begin(), result.loaded.end(),
            [](const LoadedType& a, const LoadedType& b) {
              return std::tie(a.kind, a.type) < std::tie(b.kind, b.type);
            });
  return result;
}

bool PluginRegistry::LoadLocked(const fs::path& file, ScanResult* result) {
  const fs::path key = KeyOf(file);
  // Stamped before opening: if the file changes while it is being opened, the next scan sees a
  // change (and then refuses it when it was loaded, or tries it again when it was refused).
  FileState stamp;
  std::error_code error;
  stamp.size = fs::file_size(file, error);
  if (!error) stamp.mtime = fs::last_write_time(file, error);
  const bool stamped = !error;
  // A failed second load of a loaded library ("already loaded") must not forget that it is loaded.
  auto remember = [&](bool loaded) {
    if (!stamped) return;
    auto known = files_.find(key);
    if (known != files_.end() && known->second.loaded && !loaded) return;
    stamp.loaded = loaded;
    files_[key] = stamp;
  };

  std::string reason;
  // Opened without mutex_ held: readers carry on while the loader runs the library's constructors.
  std::shared_ptr<internal::PluginLibrary> library = internal::PluginLibrary::Open(file, &reason);
  if (library == nullptr) {
    remember(false);
    return Refuse(file, key, std::move(reason), result);
  }

  const internal::Manifest& manifest = library->manifest();
  {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    // Every entry is checked before any is registered, so a refused library leaves nothing behind
    // and readers see all of a library's types or none.
    for (const internal::ManifestEntry& entry : manifest.entries) {
      auto taken = registrations_.find({entry.kind->name, entry.type});
      if (taken == registrations_.end()) continue;
      const std::string& other = taken->second->info.file;
      std::error_code ignored;
      if (fs::equivalent(file, other, ignored)) {
        reason = "already loaded (as " + other + ")";
      } else {
        reason = std::string(entry.kind->name) + " type '" + entry.type + "' of " +
                 library->file() + " is already registered by " + other;
      }
      break;
    }
    if (reason.empty()) {
      for (const internal::ManifestEntry& entry : manifest.entries) {
        std::pair<std::string, std::string> key_pair(entry.kind->name, entry.type);
        LoadedType info{key_pair.first,       key_pair.second,      library->file(),
                        manifest.plugin_name, manifest.abi_version, manifest.build_tag};
        if (result != nullptr) result->loaded.push_back(info);
        registrations_.emplace(std::move(key_pair),
                               std::make_unique<Registration>(Registration{
                                   std::move(info), entry.kind, entry.create, library}));
      }
      // It was refused before and has changed since: the refusal no longer holds.
      std::erase_if(refused_, [&](const Refusal& refusal) { return refusal.key == key; });
    }
  }
  if (!reason.empty()) {
    library.reset();  // closes it now, without mutex_ held
    remember(false);
    return Refuse(file, key, std::move(reason), result);
  }
  remember(true);
  return true;
}

bool PluginRegistry::Refuse(const fs::path& file, const fs::path& key, std::string reason,
                            ScanResult* result) {
  RefusedLibrary refused{file.string(), std::move(reason)};
  if (result != nullptr) result->refused.push_back(refused);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto earlier = std::find_if(refused_.begin(), refused_.end(),
                              [&](const Refusal& refusal) { return refusal.key == key; });
  if (earlier != refused_.end()) {
    earlier->library = std::move(refused);
  } else {
    refused_.push_back(Refusal{std::move(refused), key});
  }
  return false;
}

bool PluginRegistry::Has(const std::string& kind, const std::string& type) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return registrations_.count({kind, type}) != 0;
}

std::vector<LoadedType> PluginRegistry::Types() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<LoadedType> types;
  types.reserve(registrations_.size());
  // The map is keyed by (kind, type), so this is already in the promised order.
  for (const auto& [key, registration] : registrations_) types.push_back(registration->info);
  return types;
}

std::vector<RefusedLibrary> PluginRegistry::Refused() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<RefusedLibrary> refused;
  refused.reserve(refused_.size());
  for (const Refusal& refusal : refused_) refused.push_back(refusal.library);
  return refused;
}

std::vector<std::string> PluginRegistry::TypesOf(const std::string& kind) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return TypesOfLocked(kind);
}

std::vector<std::string> PluginRegistry::TypesOfLocked(const std::string& kind) const {
  std::vector<std::string> types;
  for (auto it = registrations_.lower_bound({kind, std::string()});
       it != registrations_.end() && it->first.first == kind; ++it) {
    types.push_back(it->first.second);
  }
  return types;
}

void* PluginRegistry::CreateRaw(const std::string& kind, const std::string& type,
                                const spi::PluginContext& context,
                                std::shared_ptr<void>* library) const {
  // Copied out under the lock; the factory then runs without it. A registration is never removed,
  // and `owner` keeps the factory's code mapped in any case.
  const internal::KindInfo* kind_info = nullptr;
  void (*create)(void) = nullptr;
  std::shared_ptr<internal::PluginLibrary> owner;
  std::string file;
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    auto found = registrations_.find({kind, type});
    if (found == registrations_.end()) {
      const std::vector<std::string> loaded = TypesOfLocked(kind);
      lock.unlock();
      throw PluginError(JobPrefix(context) + "unknown " + kind + " type '" + type + "' (loaded: " +
                        (loaded.empty() ? std::string("none") : Join(loaded)) + ")");
    }
    const Registration& registration = *found->second;
    kind_info = registration.kind;
    create = registration.create;
    owner = registration.library;
    file = registration.info.file;
  }

  std::string error;
  void* object = nullptr;
  // A factory is noexcept by contract (spi::CreatePluginObject catches); this only guards against
  // a hand-written one, and copies the message while its library is certainly still open.
  try {
    object = kind_info->invoke(create, context, &error);
  } catch (const std::exception& e) {
    error = std::string("its factory threw: ") + e.what();
  } catch (...) {
    error = "its factory threw a non-standard exception";
  }
  if (object == nullptr) {
    if (error.empty()) error = "the factory returned no object and no message";
    throw PluginError(JobPrefix(context) + kind + " '" + type + "' from " + file +
                      " refused its configuration: " + error);
  }
  *library = std::move(owner);
  return object;
}

}  // namespace shardjob::plugin
