#pragma once

// A fixed-bucket histogram that hot paths can feed without a lock: Observe() is a few atomic
// adds. Read() gives a consistent-enough snapshot for a scrape: buckets and sum are read one after
// another, and the count is the buckets' sum, so it always agrees with the +Inf bucket.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace shardjob::metrics {

struct HistogramSnapshot {
  std::vector<double> upper_bounds;   // ascending; the +Inf bucket is implied
  std::vector<std::uint64_t> counts;  // per bucket, not cumulative; one more than upper_bounds
  double sum = 0;
  std::uint64_t count = 0;  // the sum of counts, so it always equals the +Inf bucket
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  HistogramSnapshot Read() const;

  // Bucket bounds in seconds: for lateness (sub-millisecond to seconds) and for task durations
  // (milliseconds to an hour).
  static std::vector<double> LatenessBuckets();
  static std::vector<double> DurationBuckets();

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace shardjob::metrics
