#include "plugin/plugin_registry.h"

#include <algorithm>
#include <exception>
#include <system_error>
#include <utility>

#include "plugin/kinds.h"
#include "plugin/plugin_library.h"

namespace shardjob::plugin {
namespace {

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

}  // namespace

struct PluginRegistry::Registration {
  LoadedType info;
  const internal::KindInfo* kind;
  void (*create)(void);  // lives in `library`
  std::shared_ptr<internal::PluginLibrary> library;
};

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

void PluginRegistry::LoadDirectory(const std::filesystem::path& dir) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(dir, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    throw PluginError("cannot access plugin directory '" + dir.string() + "': " + error.message());
  }
  if (!std::filesystem::exists(status)) {
    throw PluginError("plugin directory '" + dir.string() + "' does not exist");
  }
  if (!std::filesystem::is_directory(status)) {
    throw PluginError("plugin directory '" + dir.string() + "' is not a directory");
  }

  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(dir, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::error_code type_error;
    // is_regular_file follows symlinks, so a link to a plugin elsewhere is loaded too.
    if (it->path().extension() == ".so" && it->is_regular_file(type_error)) {
      files.push_back(it->path());
    }
  }
  if (error) {
    throw PluginError("cannot list plugin directory '" + dir.string() + "': " + error.message());
  }
  // Name order makes which of two clashing libraries wins the same on every instance.
  std::sort(files.begin(), files.end());
  for (const std::filesystem::path& file : files) LoadLibrary(file);
}

bool PluginRegistry::LoadLibrary(const std::filesystem::path& file) {
  std::string reason;
  std::shared_ptr<internal::PluginLibrary> library = internal::PluginLibrary::Open(file, &reason);
  if (library == nullptr) return Refuse(file, std::move(reason));

  // Every entry is checked before any is registered, so a refused library leaves nothing behind.
  const internal::Manifest& manifest = library->manifest();
  for (const internal::ManifestEntry& entry : manifest.entries) {
    auto taken = registrations_.find({entry.kind->name, entry.type});
    if (taken == registrations_.end()) continue;
    const std::string& other = taken->second->info.file;
    std::error_code ignored;
    if (std::filesystem::equivalent(file, other, ignored)) {
      return Refuse(file, "already loaded (as " + other + ")");
    }
    return Refuse(file, std::string(entry.kind->name) + " type '" + entry.type + "' of " +
                            library->file() + " is already registered by " + other);
  }
  for (const internal::ManifestEntry& entry : manifest.entries) {
    std::pair<std::string, std::string> key(entry.kind->name, entry.type);
    LoadedType info{
        key.first,         key.second, library->file(), manifest.plugin_name, manifest.abi_version,
        manifest.build_tag};
    registrations_.emplace(std::move(key),
                           std::make_unique<Registration>(
                               Registration{std::move(info), entry.kind, entry.create, library}));
  }
  return true;
}

bool PluginRegistry::Refuse(const std::filesystem::path& file, std::string reason) {
  refused_.push_back(RefusedLibrary{file.string(), std::move(reason)});
  return false;
}

bool PluginRegistry::Has(const std::string& kind, const std::string& type) const {
  return registrations_.count({kind, type}) != 0;
}

std::vector<LoadedType> PluginRegistry::Types() const {
  std::vector<LoadedType> types;
  types.reserve(registrations_.size());
  // The map is keyed by (kind, type), so this is already in the promised order.
  for (const auto& [key, registration] : registrations_) types.push_back(registration->info);
  return types;
}

std::vector<std::string> PluginRegistry::TypesOf(const std::string& kind) const {
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
  auto found = registrations_.find({kind, type});
  if (found == registrations_.end()) {
    const std::vector<std::string> loaded = TypesOf(kind);
    throw PluginError(JobPrefix(context) + "unknown " + kind + " type '" + type +
                      "' (loaded: " + (loaded.empty() ? std::string("none") : Join(loaded)) + ")");
  }
  const Registration& registration = *found->second;

  std::string error;
  void* object = nullptr;
  // A factory is noexcept by contract (spi::CreatePluginObject catches); this only guards against
  // a hand-written one, and copies the message while its library is certainly still open.
  try {
    object = registration.kind->invoke(registration.create, context, &error);
  } catch (const std::exception& e) {
    error = std::string("its factory threw: ") + e.what();
  } catch (...) {
    error = "its factory threw a non-standard exception";
  }
  if (object == nullptr) {
    if (error.empty()) error = "the factory returned no object and no message";
    throw PluginError(JobPrefix(context) + kind + " '" + type + "' from " + registration.info.file +
                      " refused its configuration: " + error);
  }
  *library = registration.library;
  return object;
}

}  // namespace shardjob::plugin
