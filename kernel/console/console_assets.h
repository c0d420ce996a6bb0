#pragma once

// The web console's files (the repository's console/ folder), built into the binary so that an
// instance serves its console with nothing to install and nothing fetched from the internet.

#include <string_view>
#include <vector>

namespace shardjob::console {

struct Asset {
  std::string_view name;     // "index.html": console/ is flat
  std::string_view content;  // the file's bytes
  std::string_view sha256;   // hex digest of the content, for ETags
};

// Every file, in the order the build listed them.
const std::vector<Asset>& Assets();

}  // namespace shardjob::console
