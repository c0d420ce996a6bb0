#pragma once

// Notices a step of the wall clock (an operator's `date -s`, a VM restored, NTP stepping) while
// the process runs, without a request: the wall clock's offset from the monotonic clock changes
// by more than a tolerance at once. Slow drift (NTP slewing, at most 0.5 ms a second) is followed.
//
// Fire ids are wall-clock instants, so an instance whose clock jumped ahead would claim fires
// from the future on its shards; every instant in between would then look done. A job refuses
// its scheduled fires while Step() is not zero, until the clock is back or the registry's clock
// agrees with the new one (Accept()).

#include <chrono>
#include <functional>
#include <mutex>

namespace shardjob::schedule {

class ClockWatch {
 public:
  // Milliseconds since some epoch, read from a clock.
  using Reading = std::function<std::chrono::milliseconds()>;

  // The system and steady clocks, unless a test gives its own.
  explicit ClockWatch(std::chrono::milliseconds tolerance = std::chrono::milliseconds(250),
                      Reading wall = nullptr, Reading monotonic = nullptr);

  // Called every second or so: follows drift while the clock is steady.
  void Tick();
  // How far the wall clock stands from where the monotonic clock says it should; zero within
  // the tolerance.
  std::chrono::milliseconds Step() const;
  // The wall clock as it is now is right: measure from it.
  void Accept();
  // The watched wall clock's reading (the system clock's, outside tests).
  std::chrono::milliseconds WallNow() const { return wall_(); }

 private:
  std::chrono::milliseconds OffsetNow() const;

  const std::chrono::milliseconds tolerance_;
  const Reading wall_;
  const Reading monotonic_;
  mutable std::mutex mutex_;
  std::chrono::milliseconds baseline_;  // wall clock minus monotonic clock, when steady
};

}  // namespace shardjob::schedule
