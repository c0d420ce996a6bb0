#include "schedule/clock_watch.h"

namespace shardjob::schedule {

ClockWatch::ClockWatch(std::chrono::milliseconds tolerance)
    : tolerance_(tolerance), baseline_(OffsetNow()) {}

std::chrono::milliseconds ClockWatch::OffsetNow() const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()) -
         duration_cast<milliseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

void ClockWatch::Tick() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto offset = OffsetNow();
  auto step = offset - baseline_;
  if (step <= tolerance_ && step >= -tolerance_) baseline_ = offset;
}

std::chrono::milliseconds ClockWatch::Step() const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto step = OffsetNow() - baseline_;
  if (step <= tolerance_ && step >= -tolerance_) return std::chrono::milliseconds(0);
  return step;
}

void ClockWatch::Accept() {
  std::lock_guard<std::mutex> lock(mutex_);
  baseline_ = OffsetNow();
}

}  // namespace shardjob::schedule
