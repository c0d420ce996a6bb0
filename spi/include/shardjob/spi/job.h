#pragma once

// The interfaces a user implements for a Classed job. Register the class in a plugin with
// SHARDJOB_PLUGIN(..., shardjob::spi::SimpleJobEntry<MyJob>("MY_JOB")) (see plugin.h); a job's YAML
// then names it with `class: MY_JOB`.
//
// A job class is constructed once per job, either from `const PluginContext&` (to read its props)
// or with its default constructor. Its methods may throw: the registration wraps them so that the
// exception is caught inside the user's own library and reported as a failed task.

#include <vector>

#include "shardjob/spi/sharding_context.h"

namespace shardjob::spi {

// Runs one shard per call. Called concurrently for different shards of the same fire.
class SimpleJob {
 public:
  virtual ~SimpleJob();
  virtual void Execute(const ShardingContext& context) = 0;
};

// ElasticJob's dataflow job: fetch a batch for the shard, then process it. Called concurrently
// for different shards.
template <typename T>
class DataflowJob {
 public:
  using DataType = T;
  virtual ~DataflowJob() = default;
  // An empty batch ends the shard's work for this fire.
  virtual std::vector<T> FetchData(const ShardingContext& context) = 0;
  virtual void ProcessData(const ShardingContext& context, std::vector<T>& data) = 0;
};

}  // namespace shardjob::spi
