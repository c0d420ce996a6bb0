// BENCH_SKEW_JOB: a job whose shards take unequal time, for the skew benchmark (skew_bench.cc).
// Each task sleeps work.unit_ms, times work.heavy_factor when its shard is work.heavy_shard, and
// then appends one line to <record.dir>/<job name>.records with a single O_APPEND write, so
// that the three instances' lines never interleave:
//
//   <fire id> <shard> <instance id> <start ns> <end ns>     (CLOCK_MONOTONIC, shared by processes)
//
// props: record.dir (required), work.unit_ms (default 100), work.heavy_shard (default -1: none),
// work.heavy_factor (default 10). A task whose cancellation flag is raised stops sleeping,
// records nothing and fails.

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "shardjob/spi/plugin.h"

namespace {

using shardjob::spi::PluginContext;

std::int64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

std::int64_t IntProp(const PluginContext& context, const char* key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  auto status = context.props.GetInt(key, fallback, min, max, &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

class SkewJob : public shardjob::spi::SimpleJob {
 public:
  explicit SkewJob(const PluginContext& context)
      : unit_(IntProp(context, "work.unit_ms", 100, 0, 3600000)),
        heavy_shard_(static_cast<int>(IntProp(context, "work.heavy_shard", -1, -1, 1000000))),
        heavy_factor_(IntProp(context, "work.heavy_factor", 10, 1, 1000)) {
    auto dir = context.props.Find("record.dir");
    if (!dir) throw std::invalid_argument("prop 'record.dir' is required");
    std::string path = *dir + "/" + context.job_name + ".records";
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::invalid_argument("cannot open " + path);
  }
  ~SkewJob() override {
    if (fd_ >= 0) close(fd_);
  }
  SkewJob(const SkewJob&) = delete;
  SkewJob& operator=(const SkewJob&) = delete;

  void Execute(const shardjob::spi::ShardingContext& context) override {
    const std::int64_t start = MonotonicNs();
    const auto work = unit_ * (context.shard == heavy_shard_ ? heavy_factor_ : 1);
    if (work.count() > 0) {
      // WaitFor may wake early (spuriously, or rounded down): sleep until the end is reached.
      const auto end = std::chrono::steady_clock::now() + work;
      for (auto now = std::chrono::steady_clock::now(); now < end;
           now = std::chrono::steady_clock::now()) {
        if (context.cancellation->WaitFor(
                std::chrono::ceil<std::chrono::milliseconds>(end - now))) {
          throw std::runtime_error("cancelled");
        }
      }
    }
    const std::string line = context.fire_id + " " + std::to_string(context.shard) + " " +
                             context.instance_id + " " + std::to_string(start) + " " +
                             std::to_string(MonotonicNs()) + "\n";
    if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      throw std::runtime_error("cannot append the task's record");
    }
  }

 private:
  std::chrono::milliseconds unit_;
  int heavy_shard_;
  std::int64_t heavy_factor_;
  int fd_ = -1;
};

}  // namespace

SHARDJOB_PLUGIN("bench-skew", shardjob::spi::SimpleJobEntry<SkewJob>("BENCH_SKEW_JOB"))
