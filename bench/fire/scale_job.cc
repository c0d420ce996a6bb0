// SCALE_LATENESS_JOB: for the scale benchmark (scale_bench.cc). Like LATENESS_JOB, but every job
// of the process appends to ONE shared descriptor per record file (10,000 jobs must not cost
// 10,000 descriptors), and each line is "<fire instant, epoch ms> <lateness, µs>", so the
// benchmark can keep only the fires of its measurement window.
// props: record.file (optional: without it the job records nothing)

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "shardjob/spi/plugin.h"

namespace {

// One descriptor per path, shared by every job naming it; closed when the last job goes.
class SharedFiles {
 public:
  int Acquire(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = files_.find(path);
    if (it == files_.end()) {
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) throw std::invalid_argument("cannot open " + path);
      it = files_.emplace(path, Entry{fd, 0}).first;
    }
    ++it->second.users;
    return it->second.fd;
  }
  void Release(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = files_.find(path);
    if (it == files_.end() || --it->second.users > 0) return;
    close(it->second.fd);
    files_.erase(it);
  }

 private:
  struct Entry {
    int fd;
    int users;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> files_;
};

SharedFiles& Files() {
  static SharedFiles* files = new SharedFiles();  // never destroyed: jobs may outlive statics
  return *files;
}

class ScaleLatenessJob : public shardjob::spi::SimpleJob {
 public:
  explicit ScaleLatenessJob(const shardjob::spi::PluginContext& context) {
    if (auto file = context.props.Find("record.file")) {
      path_ = *file;
      fd_ = Files().Acquire(path_);
    }
  }
  ~ScaleLatenessJob() override {
    if (fd_ >= 0) Files().Release(path_);
  }

  void Execute(const shardjob::spi::ShardingContext& context) override {
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    if (fd_ < 0) return;
    long long fire_ms = std::stoll(context.fire_id);
    std::string line = context.fire_id + " " + std::to_string(now - fire_ms * 1000) + "\n";
    // One write() per line on an O_APPEND descriptor: lines of concurrent tasks never interleave.
    if (write(fd_, line.data(), line.size()) < 0) throw std::runtime_error("write failed");
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

SHARDJOB_PLUGIN("bench-scale",
                shardjob::spi::SimpleJobEntry<ScaleLatenessJob>("SCALE_LATENESS_JOB"))
