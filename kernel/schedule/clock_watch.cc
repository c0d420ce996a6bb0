#include "schedule/clock_watch.h"

#include <utility>

namespace shardjob::schedule {

namespace {

template <typename Clock>
std::chrono::milliseconds ReadClock() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch());
}

}  // namespace

ClockWatch::ClockWatch(std::chrono::milliseconds tolerance, Reading wall, Reading monotonic)
    : tolerance_(tolerance),
      wall_(wall ? std::move(wall) : ReadClock<std::chrono::system_clock>),
      monotonic_(monotonic ? std::move(monotonic) : ReadClock<std::chrono::steady_clock>),
      baseline_(OffsetNow()) {}

std::chrono::milliseconds ClockWatch::OffsetNow() const { return wall_() - monotonic_(); }

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
