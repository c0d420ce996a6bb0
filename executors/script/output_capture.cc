#include "executors/script/output_capture.h"

#include <algorithm>
#include <utility>

namespace shardjob::executors {
namespace {

std::size_t StreamIndex(OutputStream stream) { return stream == OutputStream::kStdout ? 0 : 1; }

}  // namespace

OutputCapture::OutputCapture(spi::Logger& logger, std::string task_id, std::size_t limit_bytes)
    : logger_(logger),
      task_id_(std::move(task_id)),
      limit_(limit_bytes),
      tail_limit_(std::min(limit_bytes, kTailBytes)) {}

void OutputCapture::OnOutput(OutputStream stream, std::string_view chunk) {
  total_ += chunk.size();
  if (tail_limit_ > 0) {
    tail_.append(chunk.substr(chunk.size() - std::min(chunk.size(), tail_limit_)));
    // Trimmed only once it doubles, so the copying stays linear in the output size.
    if (tail_.size() > 2 * tail_limit_) tail_.erase(0, tail_.size() - tail_limit_);
  }

  const std::uint64_t room = limit_ - std::min<std::uint64_t>(kept_, limit_);
  const std::size_t keep = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), room));
  kept_ += keep;
  dropped_ += chunk.size() - keep;
  std::string& partial = partial_[StreamIndex(stream)];
  std::string_view kept = chunk.substr(0, keep);
  while (!kept.empty()) {
    const std::size_t newline = kept.find('\n');
    if (newline == std::string_view::npos) {
      partial.append(kept);
      break;
    }
    if (partial.empty()) {
      EmitLine(stream, kept.substr(0, newline));
    } else {
      partial.append(kept.substr(0, newline));
      EmitLine(stream, partial);
      partial.clear();
    }
    kept.remove_prefix(newline + 1);
  }
}

void OutputCapture::Finish() {
  for (OutputStream stream : {OutputStream::kStdout, OutputStream::kStderr}) {
    std::string& partial = partial_[StreamIndex(stream)];
    if (!partial.empty()) EmitLine(stream, partial);
    partial.clear();
  }
  if (lines_not_logged_ > 0) {
    logger_.Log(spi::LogLevel::kWarn,
                "task=" + task_id_ + " output: " + std::to_string(lines_not_logged_) +
                    " more lines not logged (at most " + std::to_string(kMaxLoggedLines) + " are)");
  }
  if (dropped_ > 0) {
    logger_.Log(spi::LogLevel::kWarn,
                "task=" + task_id_ + " output: [truncated " + std::to_string(dropped_) + " bytes]");
  }
}

std::string OutputCapture::Tail() const {
  std::string_view tail = tail_;
  if (tail.size() > tail_limit_) tail.remove_prefix(tail.size() - tail_limit_);
  const bool cut = total_ > tail.size();
  if (cut) {
    // Start on a character boundary rather than in the middle of a UTF-8 sequence.
    while (!tail.empty() && (static_cast<unsigned char>(tail.front()) & 0xC0) == 0x80) {
      tail.remove_prefix(1);
    }
  }
  const std::size_t end = tail.find_last_not_of(" \t\r\n");
  tail = end == std::string_view::npos ? std::string_view() : tail.substr(0, end + 1);
  if (tail.empty()) return {};
  return (cut ? "..." : "") + std::string(tail);
}

void OutputCapture::EmitLine(OutputStream stream, std::string_view line) {
  if (lines_logged_ >= kMaxLoggedLines) {
    ++lines_not_logged_;
    return;
  }
  ++lines_logged_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const bool is_stdout = stream == OutputStream::kStdout;
  logger_.Log(is_stdout ? spi::LogLevel::kInfo : spi::LogLevel::kWarn,
              "task=" + task_id_ + (is_stdout ? " stdout: " : " stderr: ") + std::string(line));
}

}  // namespace shardjob::executors
