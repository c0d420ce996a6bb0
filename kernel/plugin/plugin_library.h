#pragma once

// One opened plugin library and its checked manifest. Internal to shardjob::plugin; Boost.DLL stays
// in the .cc so that nothing including this header needs Boost.

#include <filesystem>
#include <memory>
#include <string>

#include "plugin/manifest.h"

namespace shardjob::plugin::internal {

// Closing the library (destroying this object) unmaps its code, so it is held by a shared_ptr that
// every registration and every object built from the library shares.
class PluginLibrary {
 public:
  // Opens `file` with RTLD_NOW | RTLD_LOCAL and checks its manifest. Returns nullptr with *reason
  // set when the library is refused; it is then closed again before this returns.
  static std::shared_ptr<PluginLibrary> Open(const std::filesystem::path& file,
                                             std::string* reason);

  // Only Open() can make a Key, so only Open() constructs; the constructor is public for
  // make_shared.
  class Key {
   private:
    friend class PluginLibrary;
    Key() = default;
  };
  struct Handle;  // the boost::dll::shared_library

  PluginLibrary(Key key, std::string file, std::unique_ptr<Handle> handle, Manifest manifest);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const std::string& file() const { return file_; }
  const Manifest& manifest() const { return manifest_; }

 private:
  std::string file_;
  std::unique_ptr<Handle> handle_;
  Manifest manifest_;
};

}  // namespace shardjob::plugin::internal
