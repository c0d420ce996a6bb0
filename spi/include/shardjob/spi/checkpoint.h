#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

// The largest record Checkpoint::Save takes.
inline constexpr std::size_t kMaxCheckpointBytes = 16 * 1024;

// A small progress record per task (one fire of one shard), kept in the registry with the
// shard's claim. A task that runs again for the same fire and shard — a retry, or a failover
// after its runner died or lost its session — loads what was last saved and resumes from there
// instead of from the start. A new fire starts with no record.
//
// Saving is a write guarded by the task's claim: once the claim is lost (the shard may already
// run elsewhere) Save fails and the task should stop. Owned by the kernel.
class Checkpoint {
 public:
  virtual ~Checkpoint();
  // The record last saved for this task, by this runner or an earlier one; nullopt when none was.
  virtual std::optional<std::string> Load() const noexcept = 0;
  // One registry write: save every few seconds or every few thousand rows, not per row. Fails
  // when the record is larger than kMaxCheckpointBytes, the claim is lost (kCancelled) or the
  // registry does not answer (kUnavailable: the record may or may not be stored).
  virtual Status Save(const std::string& record) noexcept = 0;
};

}  // namespace shardjob::spi
