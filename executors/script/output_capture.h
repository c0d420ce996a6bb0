#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executors/script/subprocess.h"
#include "shardjob/spi/logger.h"

namespace shardjob::executors {

// Keeps a script's output within bounds while it streams in. The first `limit_bytes` of stdout
// and stderr together are logged, one Log() call per line ("task=<id> stdout: <line>" at info,
// stderr at warn), at most kMaxLoggedLines lines; the rest is counted and dropped, and Finish()
// logs "[truncated N bytes]". Separately, the last min(limit_bytes, kTailBytes) bytes of all the
// output are kept for a failure message, since the end of a failing script's output is usually
// what explains it. Used by one thread at a time.
class OutputCapture : public OutputSink {
 public:
  static constexpr std::size_t kTailBytes = 1024;
  static constexpr std::size_t kMaxLoggedLines = 1000;

  // `logger` must outlive the capture.
  OutputCapture(spi::Logger& logger, std::string task_id, std::size_t limit_bytes);

  void OnOutput(OutputStream stream, std::string_view chunk) override;
  // Logs unfinished last lines and what was dropped. Call once, after the output ended.
  void Finish();
  // The end of the output, trailing whitespace trimmed, "..." in front when it was cut.
  std::string Tail() const;

  std::uint64_t total_bytes() const { return total_; }
  std::uint64_t dropped_bytes() const { return dropped_; }

 private:
  void EmitLine(OutputStream stream, std::string_view line);

  spi::Logger& logger_;
  const std::string task_id_;
  const std::size_t limit_;
  const std::size_t tail_limit_;
  std::uint64_t total_ = 0;
  std::uint64_t kept_ = 0;
  std::uint64_t dropped_ = 0;
  std::string partial_[2];  // an unfinished line per stream, within the kept bytes
  std::string tail_;
  std::size_t lines_logged_ = 0;
  std::size_t lines_not_logged_ = 0;
};

}  // namespace shardjob::executors
