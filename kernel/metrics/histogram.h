#pragma once

// A fixed-bucket histogram that hot paths can feed without a lock: Observe() is a few atomic
// adds. Read() gives a consistent-enough snapshot for a scrape: buckets and sum are read one after
// another, and the count is the buckets' sum, so it always agrees with the +Inf bucket.

#include <array>
#include <atomic>
#include <cstddef>
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
  // At most this many bounds: the counts live in the object, not in a block of their own (a
  // process with 10,000 jobs feeds 30,000 histograms, each read cold at its job's fire).
  static constexpr std::size_t kMaxBounds = 23;

  // Bounds are shared by every histogram of a kind, for the same reason.
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  HistogramSnapshot Read() const;

  // Bucket bounds in seconds: for lateness (sub-millisecond to seconds) and for task durations
  // (milliseconds to an hour).
  static std::shared_ptr<const std::vector<double>> LatenessBuckets();
  static std::shared_ptr<const std::vector<double>> DurationBuckets();

 private:
  const std::shared_ptr<const std::vector<double>> upper_bounds_;
  std::atomic<double> sum_{0};
  std::array<std::atomic<std::uint64_t>, kMaxBounds + 1> counts_{};
};

}  // namespace shardjob::metrics
