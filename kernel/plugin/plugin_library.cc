#include "plugin/plugin_library.h"

#include <exception>
#include <string_view>
#include <system_error>
#include <utility>

// Set on the target too (kernel/plugin/CMakeLists.txt); repeated here so that this file cannot be
// compiled against Boost.Filesystem by accident, which Debian's Boost 1.74 would need linked.
#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS
#endif
#include <boost/dll/shared_library.hpp>

namespace shardjob::plugin::internal {
namespace {

// Boost.DLL reports "<its own words> (dlerror system message: <text>): <errc text>". The dlerror
// text names the file and says what is wrong with it ("invalid ELF header", "undefined symbol:
// ..."); the rest is noise to someone reading a refusal.
std::string LoaderMessage(const std::system_error& error) {
  const std::string_view what = error.what();
  constexpr std::string_view kPrefix = "(dlerror system message: ";
  std::size_t begin = what.find(kPrefix);
  const std::size_t end = what.rfind("): ");
  if (begin == std::string_view::npos || end == std::string_view::npos ||
      end < begin + kPrefix.size()) {
    return std::string(what);
  }
  begin += kPrefix.size();
  return std::string(what.substr(begin, end - begin));
}

}  // namespace

struct PluginLibrary::Handle {
  // RTLD_NOW so that an unresolved symbol refuses the library now rather than failing mid-job;
  // RTLD_LOCAL so that one plugin's symbols never satisfy or shadow another's.
  explicit Handle(const std::filesystem::path& file)
      : library(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local) {}

  boost::dll::shared_library library;
};

PluginLibrary::PluginLibrary(Key /*key*/, std::string file, std::unique_ptr<Handle> handle,
                             Manifest manifest)
    : file_(std::move(file)), handle_(std::move(handle)), manifest_(std::move(manifest)) {}

PluginLibrary::~PluginLibrary() = default;

std::shared_ptr<PluginLibrary> PluginLibrary::Open(const std::filesystem::path& file,
                                                   std::string* reason) {
  std::unique_ptr<Handle> handle;
  try {
    handle = std::make_unique<Handle>(file);
  } catch (const std::system_error& e) {
    *reason = "not a loadable shared object: " + LoaderMessage(e);
    return nullptr;
  }

  // has() first: get() on a missing symbol would throw with a message about Boost, not about us.
  if (!handle->library.has(SHARDJOB_PLUGIN_MANIFEST_SYMBOL)) {
    *reason = std::string("no ") + SHARDJOB_PLUGIN_MANIFEST_SYMBOL +
              " symbol: not a shardjob plugin (a plugin declares itself with SHARDJOB_PLUGIN)";
    return nullptr;
  }
  auto& manifest_function =
      handle->library.get<const shardjob_manifest*()>(SHARDJOB_PLUGIN_MANIFEST_SYMBOL);

  // The manifest function is plain C and has no reason to throw; a library that does anyway is
  // refused rather than allowed to take the kernel down. The message is copied while the library
  // that may own the exception's code is still open.
  const shardjob_manifest* raw = nullptr;
  try {
    raw = manifest_function();
  } catch (const std::exception& e) {
    *reason = std::string(SHARDJOB_PLUGIN_MANIFEST_SYMBOL) + "() threw: " + e.what();
    return nullptr;
  } catch (...) {
    *reason = std::string(SHARDJOB_PLUGIN_MANIFEST_SYMBOL) + "() threw a non-standard exception";
    return nullptr;
  }

  Manifest manifest;
  if (!CheckManifest(raw, &manifest, reason)) return nullptr;
  return std::make_shared<PluginLibrary>(Key(), file.string(), std::move(handle),
                                         std::move(manifest));
}

}  // namespace shardjob::plugin::internal
