#pragma once

#include <string>
#include <vector>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

struct FireInfo {
  std::string job_name;
  std::string fire_id;
  std::string instance_id;
  std::vector<int> sharding_items;  // this instance's items in the fire
};

// ElasticJob's ElasticJobListener: hooks around each fire. One object per job.
//
// By default the hooks run on every instance, around its own shards of the fire. A listener
// whose ClusterOnce() is true runs them once per fire across the cluster, like ElasticJob's
// distribute-once listeners: BeforeFire on the first instance to start the fire, AfterFire on
// the instance whose commit completes it (every enabled shard committed). Unlike ElasticJob, the
// other instances do not wait for BeforeFire to finish before they start their shards.
class JobListener {
 public:
  virtual ~JobListener();
  virtual bool ClusterOnce() const { return false; }
  // A non-OK Status is reported to the job's error handler; the fire goes on unless the handler
  // escalates.
  virtual Status BeforeFire(const FireInfo& fire) noexcept = 0;
  // `failed_items` lists this instance's items of the fire that did not succeed.
  virtual void AfterFire(const FireInfo& fire, const std::vector<int>& failed_items) noexcept = 0;
};

}  // namespace shardjob::spi
