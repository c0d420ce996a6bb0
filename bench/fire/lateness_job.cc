// LATENESS_JOB: records, for every task, how late it started: the microseconds between the
// fire's scheduled instant (its id, in epoch milliseconds) and the moment Execute() was called.
// props: record.file (required)

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "shardjob/spi/plugin.h"

namespace {

class LatenessJob : public shardjob::spi::SimpleJob {
 public:
  explicit LatenessJob(const shardjob::spi::PluginContext& context) {
    auto file = context.props.Find("record.file");
    if (!file) throw std::invalid_argument("prop 'record.file' is required");
    fd_ = open(file->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::invalid_argument("cannot open " + *file);
  }
  ~LatenessJob() override { close(fd_); }

  void Execute(const shardjob::spi::ShardingContext& context) override {
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    long long late_us = now - std::stoll(context.fire_id) * 1000;
    std::string line = std::to_string(late_us) + "\n";
    if (write(fd_, line.data(), line.size()) < 0) throw std::runtime_error("write failed");
  }

 private:
  int fd_ = -1;
};

}  // namespace

SHARDJOB_PLUGIN("bench-lateness", shardjob::spi::SimpleJobEntry<LatenessJob>("LATENESS_JOB"))
