#pragma once

#include <map>
#include <string>
#include <vector>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

// One shard of a fire as a shard source describes it.
struct ShardSpec {
  // For people: logs, traces, the operator's view. "[0, 2500)", "orders 2026-11".
  std::string label;
  // For the task: what this shard covers, e.g. {"start": "0", "end": "2500"}.
  std::map<std::string, std::string> params;
  // Grid sharding: how many of the job's `grid_pages` pages this item needs for this fire (its
  // data may be small this time); 0 means all of them. The pages beyond are committed without
  // running, and the running ones are told this count as their page_count.
  int pages = 0;
};

struct ShardSourceRequest {
  std::string job_name;
  std::string fire_id;
  // How many shards the fire has: the job's sharding_total_count.
  int shard_count = 0;
};

// Logical sharding: generates what each shard of a fire covers, at fire time (key ranges from
// a table's size, the files of a directory, ...), so that no sharding_item_parameters string is
// needed. The count of shards is the job's (sharding_total_count); what each covers may change
// from fire to fire. Thread-safe.
class ShardSource {
 public:
  virtual ~ShardSource();
  // True when Generate answers the same for a fire wherever and whenever it is called (a pure
  // function of the props and the request): each instance then calls it itself. Otherwise the
  // first instance that reaches a fire stores its shards in the registry, and every runner of
  // that fire — failovers and retries included — reads them from there.
  virtual bool Deterministic() const noexcept = 0;
  // Exactly request.shard_count shards, in shard order.
  virtual Status Generate(const ShardSourceRequest& request,
                          std::vector<ShardSpec>* shards) noexcept = 0;
};

}  // namespace shardjob::spi
