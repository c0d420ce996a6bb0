#include "plugin/manifest.h"

#include <set>
#include <string_view>
#include <utility>

#include "shardjob/spi/abi.h"

namespace shardjob::plugin::internal {
namespace {

bool Fail(std::string message, std::string* reason) {
  *reason = std::move(message);
  return false;
}

std::string EntryName(std::uint32_t index) { return "entries[" + std::to_string(index) + "]"; }

}  // namespace

bool CheckManifest(const shardjob_manifest* raw, Manifest* manifest, std::string* reason) {
  if (raw == nullptr) {
    return Fail(std::string(SHARDJOB_PLUGIN_MANIFEST_SYMBOL) + "() returned a null manifest",
                reason);
  }
  if (raw->abi_version != SHARDJOB_SPI_ABI_VERSION) {
    return Fail("built against SPI ABI version " + std::to_string(raw->abi_version) +
                    ", this kernel uses " + std::to_string(SHARDJOB_SPI_ABI_VERSION),
                reason);
  }
  if (raw->build_tag == nullptr) return Fail("manifest has no build tag", reason);
  if (std::string_view(raw->build_tag) != SHARDJOB_SPI_BUILD_TAG) {
    return Fail(std::string("built with '") + raw->build_tag + "', this kernel with '" +
                    SHARDJOB_SPI_BUILD_TAG +
                    "' (a plugin must use the kernel's compiler and standard library)",
                reason);
  }
  if (raw->entry_count == 0) return Fail("manifest declares no entries", reason);
  if (raw->entries == nullptr) {
    return Fail(
        "manifest declares " + std::to_string(raw->entry_count) + " entries but has no entry table",
        reason);
  }

  Manifest checked;
  checked.abi_version = raw->abi_version;
  checked.build_tag = raw->build_tag;
  checked.plugin_name = raw->plugin_name != nullptr ? raw->plugin_name : "";
  std::set<std::pair<std::string, std::string>> seen;
  for (std::uint32_t i = 0; i < raw->entry_count; ++i) {
    const shardjob_manifest_entry& entry = raw->entries[i];
    if (entry.kind == nullptr) return Fail(EntryName(i) + " has no kind", reason);
    const KindInfo* kind = FindKind(entry.kind);
    if (kind == nullptr) {
      return Fail(
          EntryName(i) + " has unknown kind '" + entry.kind + "' (known: " + KnownKindList() + ")",
          reason);
    }
    if (entry.type == nullptr || entry.type[0] == '\0') {
      return Fail(EntryName(i) + " (" + kind->name + ") has no type name", reason);
    }
    if (entry.create == nullptr) {
      return Fail(EntryName(i) + " (" + kind->name + " '" + entry.type + "') has a null factory",
                  reason);
    }
    if (!seen.emplace(kind->name, entry.type).second) {
      return Fail(
          std::string(kind->name) + " type '" + entry.type + "' is declared twice in the manifest",
          reason);
    }
    checked.entries.push_back(ManifestEntry{kind, entry.type, entry.create});
  }
  *manifest = std::move(checked);
  return true;
}

}  // namespace shardjob::plugin::internal
