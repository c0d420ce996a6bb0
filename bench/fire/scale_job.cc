// SCALE_LATENESS_JOB: for the scale benchmark (scale_bench.cc). Like LATENESS_JOB, but every job
// of the process appends to ONE shared descriptor per record file (10,000 jobs must not cost
// 10,000 descriptors), and each line is "<fire instant, epoch ms> <lateness, µs>", so the
// benchmark can keep only the fires of its measurement window.
// props: record.file (optional: without it the job records nothing)

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "shardjob/spi/plugin.h"

namespace {

// One descriptor per path, shared by every job naming it; closed when the last job goes. Each
// thread gathers its lines in a buffer of its own, written out when the file is closed: a write()
// per task, or one lock for every worker, would make the probe a good part of what it measures.
class SharedFiles {
 public:
  struct File {
    int fd = -1;
    int users = 0;
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
    for (auto& buffer : buffers_) {
      std::lock_guard<std::mutex> buffer_lock(buffer->mutex);
      auto lines = buffer->lines.find(&it->second);
      if (lines == buffer->lines.end()) continue;
      // Called from a job's destructor: say so, do not throw.
      if (write(it->second.fd, lines->second.data(), lines->second.size()) < 0) {
        std::perror(("SCALE_LATENESS_JOB: writing " + path).c_str());
      }
      buffer->lines.erase(lines);
    }
    close(it->second.fd);
    files_.erase(it);
  }
  void Append(File& file, const std::string& line) {
    thread_local std::shared_ptr<Buffer> own = Register();
    std::lock_guard<std::mutex> lock(own->mutex);  // taken by Release only: never contended
    own->lines[&file] += line;
  }

 private:
  struct Buffer {
    std::mutex mutex;
    std::map<File*, std::string> lines;
  };
  std::shared_ptr<Buffer> Register() {
    auto buffer = std::make_shared<Buffer>();
    std::lock_guard<std::mutex> lock(mutex_);
    buffers_.push_back(buffer);
    return buffer;
  }

  std::mutex mutex_;
  std::map<std::string, File> files_;  // node-based: a File stays where it is
  std::vector<std::shared_ptr<Buffer>> buffers_;
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
    Files().Append(*file_, context.fire_id + " " + std::to_string(now - fire_ms * 1000) + "\n");
  }

 private:
  std::string path_;
  SharedFiles::File* file_ = nullptr;
};

}  // namespace

SHARDJOB_PLUGIN("bench-scale",
                shardjob::spi::SimpleJobEntry<ScaleLatenessJob>("SCALE_LATENESS_JOB"))
