#pragma once

// Checks a plugin's manifest against this kernel and copies it out of the library, so that nothing
// read from it points into a library that may later be closed (a refused one is closed at once).
// Internal to shardjob::plugin.

#include <cstdint>
#include <string>
#include <vector>

#include "plugin/kinds.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::plugin::internal {

struct ManifestEntry {
  const KindInfo* kind = nullptr;  // never null in a checked manifest
  std::string type;
  // Points into the library: only callable while the library is open.
  void (*create)(void) = nullptr;
};

struct Manifest {
  std::uint32_t abi_version = 0;
  std::string build_tag;
  std::string plugin_name;
  std::vector<ManifestEntry> entries;
};

// Fills *manifest from `raw`, or returns false with *reason set (see plugin_registry.h for the
// refusal messages). The ABI version is checked before any other field is read, since a different
// ABI may lay the rest of the struct out differently.
bool CheckManifest(const shardjob_manifest* raw, Manifest* manifest, std::string* reason);

}  // namespace shardjob::plugin::internal
