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

// One descriptor per path, shared by every job naming it; closed when the last job goes. Lines are
// gathered in memory and written in large pieces: a write() per task would make the probe (the
// syscall and the file's lock, shared by every worker) a good part of what it measures.
class SharedFiles {
 public:
  struct File {
    int fd = -1;
    int users = 0;
    std::mutex mutex;
    std::string pending;
  };

  File* Acquire(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    File& file = files_[path];
    if (file.fd < 0) {
      file.fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (file.fd < 0) {
        files_.erase(path);
        throw std::invalid_argument("cannot open " + path);
      }
    }
    ++file.users;
    return &file;
  }
  void Release(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = files_.find(path);
    if (it == files_.end() || --it->second.users > 0) return;
    Flush(it->second);
    close(it->second.fd);
    files_.erase(it);
  }
  static void Append(File& file, const std::string& line) {
    constexpr std::size_t kFlushAt = 1 << 20;
    std::lock_guard<std::mutex> lock(file.mutex);
    file.pending += line;
    if (file.pending.size() >= kFlushAt) Flush(file);
  }

 private:
  static void Flush(File& file) {
    if (!file.pending.empty() && write(file.fd, file.pending.data(), file.pending.size()) < 0) {
      throw std::runtime_error("write failed");
    }
    file.pending.clear();
  }

  std::mutex mutex_;
  std::map<std::string, File> files_;  // node-based: a File stays where it is
};

SharedFiles& Files() {
  static SharedFiles* files = new SharedFiles();  // never destroyed: jobs may outlive statics
  return *files;
}

class ScaleLatenessJob : public shardjob::spi::SimpleJob {
 public:
  explicit ScaleLatenessJob(const shardjob::spi::PluginContext& context) {
    if (auto path = context.props.Find("record.file")) {
      path_ = *path;
      file_ = Files().Acquire(path_);
    }
  }
  ~ScaleLatenessJob() override {
    if (file_ != nullptr) Files().Release(path_);
  }

  void Execute(const shardjob::spi::ShardingContext& context) override {
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    if (file_ == nullptr) return;
    long long fire_ms = std::stoll(context.fire_id);
    SharedFiles::Append(*file_,
                        context.fire_id + " " + std::to_string(now - fire_ms * 1000) + "\n");
  }

 private:
  std::string path_;
  SharedFiles::File* file_ = nullptr;
};

}  // namespace

SHARDJOB_PLUGIN("bench-scale",
                shardjob::spi::SimpleJobEntry<ScaleLatenessJob>("SCALE_LATENESS_JOB"))
