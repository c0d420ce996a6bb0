// FAULT_RECORDER: the job the fault harness (tests/fault/run) runs. Every task appends JSON lines
// to <record.dir>/<pid>.jsonl, each with one O_APPEND write(2), so a line is whole or absent even
// when the process is killed with SIGKILL in the middle of it:
//
//   {"ev":"start","job":..,"fire":..,"shard":..,"total":..,"instance":..,"pid":..,"token":..,
//    "ckpt":null|"step=<n>","steps":..,"wall_ms":..,"mono_ns":..}   before the work
//   {"ev":"save","status":"ok"|"refused"|"unavailable"|"error","record":"step=<n>",
//    ...same keys}                                                    after each checkpoint save
//   {"ev":"end","status":"ok"|"cancelled","step":..,...same keys}     after the work
//
// wall_ms is the system clock as the process sees it (libfaketime may shift it); mono_ns is
// CLOCK_MONOTONIC, which faketime leaves alone (FAKETIME_DONT_FAKE_MONOTONIC=1) and which is one
// clock for every process of the machine, so the checker compares runs of different processes
// with it.
//
// The work is a sleep of a random length in [work.min_ms, work.max_ms], drawn from a generator
// seeded by (fire, shard), so a task takes as long wherever and however often it runs. It is cut
// into `steps` steps of 100 ms (the last one shorter). After every step but the last the task
// saves the checkpoint "step=<n>", n counting the steps done since the task's first run; a run
// that loads "step=<n>" (a failover or a retry of the same fire and shard) does only the steps
// after n. A save the kernel refuses (kCancelled: the claim is lost) ends the task like a
// cancellation; a save whose outcome is unknown (kUnavailable, also what a kernel without a
// checkpoint store answers) is recorded and the work goes on.
//
// It sleeps in small steps and stops early when the kernel raises the task's cancellation flag —
// then it records "cancelled" and throws, so the kernel releases the claim instead of committing
// it — unless ignore_cancellation is "true": then it plays the zombie that works on regardless
// (through refused saves too) and returns normally (the harness's --broken mode).
//
// Props: record.dir (required), work.min_ms (default 100), work.max_ms (default 700),
// ignore_cancellation ("true"/"false", default false).

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "shardjob/spi/plugin.h"

namespace {

using shardjob::spi::PluginContext;
using shardjob::spi::ShardingContext;
using shardjob::spi::Status;

constexpr std::int64_t kStepMs = 100;

std::int64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// The same number for the same text in every build (std::hash need not be).
std::uint64_t Fnv1a(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A JSON string literal. Fire ids and instance ids are plain text, but escape anyway.
std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::int64_t GetInt(const PluginContext& context, const char* key, std::int64_t fallback) {
  std::int64_t value = fallback;
  auto status = context.props.GetInt(key, fallback, 0, 3600000, &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

class RecorderJob : public shardjob::spi::SimpleJob {
 public:
  explicit RecorderJob(const PluginContext& context) {
    auto dir = context.props.Find("record.dir");
    if (!dir || dir->empty()) throw std::invalid_argument("prop 'record.dir' is required");
    min_ms_ = GetInt(context, "work.min_ms", 100);
    max_ms_ = GetInt(context, "work.max_ms", 700);
    if (max_ms_ < min_ms_) {
      throw std::invalid_argument("prop 'work.max_ms' must be at least 'work.min_ms'");
    }
    auto status = context.props.GetBool("ignore_cancellation", false, &ignore_cancellation_);
    if (!status.ok()) throw std::invalid_argument(status.message());
    mkdir(dir->c_str(), 0755);  // the harness makes it; EEXIST is fine
    file_ = *dir + "/" + std::to_string(getpid()) + ".jsonl";
  }

  void Execute(const ShardingContext& context) override {
    const std::string keys = Keys(context);
    std::mt19937_64 random(Fnv1a(context.fire_id) * 1000003u +
                           static_cast<std::uint64_t>(context.sharding_item));
    std::uniform_int_distribution<std::int64_t> length(min_ms_, max_ms_);
    const std::int64_t work_ms = length(random);
    const std::int64_t steps = std::max<std::int64_t>(1, (work_ms + kStepMs - 1) / kStepMs);

    // Where an earlier run of this fire and shard got to.
    const std::optional<std::string> loaded = context.LoadCheckpoint();
    std::int64_t step = std::clamp<std::int64_t>(loaded ? ParseStep(*loaded) : 0, 0, steps);
    Append("{\"ev\":\"start\"," + keys + "\"ckpt\":" + (loaded ? Quote(*loaded) : "null") +
           ",\"steps\":" + std::to_string(steps) + "," + Clocks() + "}");

    bool cancelled = false;
    std::string reason;
    while (step < steps && !cancelled) {
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(std::min(kStepMs, work_ms - step * kStepMs));
      while (std::chrono::steady_clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto slice = std::min(left, std::chrono::milliseconds(10));
        if (slice.count() <= 0) break;
        if (ignore_cancellation_) {
          std::this_thread::sleep_for(slice);
        } else if (context.cancellation->WaitFor(slice)) {
          cancelled = true;
          reason = "cancellation flag";
          break;
        }
      }
      if (cancelled) break;
      ++step;
      if (step == steps) break;  // the commit follows: no checkpoint for the finished work
      const std::string record = "step=" + std::to_string(step);
      const Status status = context.SaveCheckpoint(record);
      std::string line = "{\"ev\":\"save\",\"status\":" + Quote(SaveStatus(status)) +
                         ",\"record\":" + Quote(record) + ",";
      if (!status.ok()) line += "\"message\":" + Quote(status.message()) + ",";
      Append(line + keys + Clocks() + "}");
      if (status.code() == Status::Code::kCancelled && !ignore_cancellation_) {
        cancelled = true;
        reason = "checkpoint save refused";
      }
    }
    std::string end = "{\"ev\":\"end\",\"status\":" + Quote(cancelled ? "cancelled" : "ok") +
                      ",\"step\":" + std::to_string(step) + ",";
    if (cancelled) end += "\"reason\":" + Quote(reason) + ",";
    Append(end + keys + Clocks() + "}");
    if (cancelled) throw std::runtime_error("cancelled: the claim was lost or the instance stops");
  }

 private:
  // n of "step=<n>"; -1 for anything else (the checker reports the record as it was loaded).
  static std::int64_t ParseStep(const std::string& record) {
    constexpr std::string_view kPrefix = "step=";
    if (record.size() <= kPrefix.size() || record.size() > kPrefix.size() + 9 ||
        record.compare(0, kPrefix.size(), kPrefix) != 0) {
      return -1;
    }
    std::int64_t n = 0;
    for (std::size_t i = kPrefix.size(); i < record.size(); ++i) {
      if (record[i] < '0' || record[i] > '9') return -1;
      n = n * 10 + (record[i] - '0');
    }
    return n;
  }

  static const char* SaveStatus(const Status& status) {
    switch (status.code()) {
      case Status::Code::kOk:
        return "ok";
      case Status::Code::kCancelled:
        return "refused";
      case Status::Code::kUnavailable:
        return "unavailable";
      default:
        return "error";
    }
  }

  static std::string Keys(const ShardingContext& context) {
    return "\"job\":" + Quote(context.job_name) + ",\"fire\":" + Quote(context.fire_id) +
           ",\"shard\":" + std::to_string(context.sharding_item) +
           ",\"total\":" + std::to_string(context.sharding_total_count) +
           ",\"instance\":" + Quote(context.instance_id) + ",\"pid\":" + std::to_string(getpid()) +
           ",\"token\":" + std::to_string(context.fencing_token) + ",";
  }

  static std::string Clocks() {
    return "\"wall_ms\":" + std::to_string(WallMs()) +
           ",\"mono_ns\":" + std::to_string(MonotonicNs());
  }

  // One open + one write per line: O_APPEND makes concurrent writers (the tasks of one process)
  // land whole lines, and the line is in the page cache once write returns, so SIGKILL keeps it.
  void Append(const std::string& line) const {
    int fd = open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + file_ + ": " + std::strerror(errno));
    std::string text = line + "\n";
    ssize_t written = write(fd, text.data(), text.size());
    close(fd);
    if (written != static_cast<ssize_t>(text.size())) {
      throw std::runtime_error("short write to " + file_);
    }
  }

  std::string file_;
  std::int64_t min_ms_ = 100;
  std::int64_t max_ms_ = 700;
  bool ignore_cancellation_ = false;
};

}  // namespace

SHARDJOB_PLUGIN("fault-recorder", shardjob::spi::SimpleJobEntry<RecorderJob>("FAULT_RECORDER"))
