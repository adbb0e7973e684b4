#include "dashboard/timing_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace gpu_node::dashboard {

TimingTail::TimingTail(std::string path, std::uint64_t history_bytes)
    : path_(std::move(path)), history_bytes_(history_bytes) {}

TimingTail::~TimingTail() {
  if (fd_ >= 0) ::close(fd_);
}

bool TimingTail::Open(bool first) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return false;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  ino_ = static_cast<std::uint64_t>(st.st_ino);
  offset_ = 0;
  partial_.clear();
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (first && size > history_bytes_) {
    // Start mid-file: the first (cut) line is dropped by skipping to the
    // first newline after the start.
    offset_ = size - history_bytes_;
    char c = 0;
    while (::pread(fd_, &c, 1, static_cast<off_t>(offset_)) == 1) {
      ++offset_;
      if (c == '\n') break;
    }
  }
  return true;
}

void TimingTail::ReadToEnd(std::vector<std::string>& lines) {
  char buf[64 * 1024];
  while (true) {
    const ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    offset_ += static_cast<std::uint64_t>(n);
    std::size_t start = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      if (buf[i] != '\n') continue;
      partial_.append(buf + start, i - start);
      if (!partial_.empty()) lines.push_back(std::move(partial_));
      partial_.clear();
      start = i + 1;
    }
    partial_.append(buf + start, static_cast<std::size_t>(n) - start);
  }
}

std::vector<std::string> TimingTail::ReadNew() {
  std::vector<std::string> lines;
  if (fd_ < 0) {
    if (!Open(!opened_once_)) return lines;
    opened_once_ = true;
  }
  ReadToEnd(lines);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return lines;  // mid-rotation: the new file comes next time
  if (static_cast<std::uint64_t>(st.st_ino) != ino_) {
    // Rotated: the old file is finished (read above); the new one from its start.
    ::close(fd_);
    fd_ = -1;
    if (Open(false)) ReadToEnd(lines);
  } else if (static_cast<std::uint64_t>(st.st_size) < offset_) {
    offset_ = 0;  // truncated in place
    partial_.clear();
    ReadToEnd(lines);
  }
  return lines;
}

}  // namespace gpu_node::dashboard
