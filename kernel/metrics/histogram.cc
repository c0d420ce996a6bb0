#include "metrics/histogram.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace shardjob::metrics {

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)) {
  if (!std::is_sorted(upper_bounds_->begin(), upper_bounds_->end())) {
    throw std::invalid_argument("histogram bucket bounds must ascend");
  }
  if (upper_bounds_->size() > kMaxBounds) {
    throw std::invalid_argument("a histogram has at most " + std::to_string(kMaxBounds) +
                                " bucket bounds");
  }
}

void Histogram::Observe(double value) {
  const auto bucket = std::lower_bound(upper_bounds_->begin(), upper_bounds_->end(), value);
  counts_[static_cast<std::size_t>(bucket - upper_bounds_->begin())].fetch_add(
      1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Read() const {
  HistogramSnapshot snapshot;
  snapshot.upper_bounds = *upper_bounds_;
  snapshot.counts.reserve(upper_bounds_->size() + 1);
  for (std::size_t i = 0; i <= upper_bounds_->size(); ++i) {
    snapshot.counts.push_back(counts_[i].load(std::memory_order_relaxed));
    snapshot.count += snapshot.counts.back();
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::shared_ptr<const std::vector<double>> Histogram::LatenessBuckets() {
  static const auto buckets = std::make_shared<const std::vector<double>>(std::vector<double>{
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  return buckets;
}

std::shared_ptr<const std::vector<double>> Histogram::DurationBuckets() {
  static const auto buckets = std::make_shared<const std::vector<double>>(std::vector<double>{
      0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600});
  return buckets;
}

}  // namespace shardjob::metrics
