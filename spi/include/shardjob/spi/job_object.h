#pragma once

// How executors see a user's Classed job. The objects are built inside the user's library by the
// entries in plugin.h, so an exception thrown by user code is caught there and becomes a Status:
// nothing is thrown across a library boundary.

#include <cstddef>

#include "shardjob/spi/job.h"
#include "shardjob/spi/status.h"

namespace shardjob::spi {

inline constexpr const char* kSimpleJobInterface = "SimpleJob";
inline constexpr const char* kDataflowJobInterface = "DataflowJob";

class JobObject {
 public:
  virtual ~JobObject();
  // kSimpleJobInterface or kDataflowJobInterface: which executor can drive this object.
  virtual const char* Interface() const = 0;
};

class SimpleJobObject : public JobObject {
 public:
  const char* Interface() const override { return kSimpleJobInterface; }
  virtual Status Execute(const ShardingContext& context) noexcept = 0;
};

class DataflowJobObject : public JobObject {
 public:
  const char* Interface() const override { return kDataflowJobInterface; }
  // One round: fetch a batch and, if it is not empty, process it. *fetched is the batch size.
  virtual Status FetchAndProcess(const ShardingContext& context, std::size_t* fetched) noexcept = 0;
};

}  // namespace shardjob::spi
