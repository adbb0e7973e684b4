// TimingTail: follows serve's timing.jsonl (mesh/timing_log.h) as it grows,
// so the dashboard sees every record, extra fields included, without a hook
// in the log's writers. It follows the log's size rotation (<path> moved to
// <path>.1, a new <path> started): what was left in the old file is read to
// its end first.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gpu_node::dashboard {

class TimingTail {
 public:
  // The first ReadNew() starts at most `history_bytes` before the file's end
  // (at a line start), so a dashboard opened late still shows the recent past.
  explicit TimingTail(std::string path, std::uint64_t history_bytes = 256 * 1024);
  ~TimingTail();
  TimingTail(const TimingTail&) = delete;
  TimingTail& operator=(const TimingTail&) = delete;

  // Complete lines appended since the last call, oldest first, without their
  // newlines. A missing file is no lines (it may appear later).
  std::vector<std::string> ReadNew();

 private:
  bool Open(bool first);
  void ReadToEnd(std::vector<std::string>& lines);

  const std::string path_;
  const std::uint64_t history_bytes_;
  int fd_ = -1;
  std::uint64_t ino_ = 0;
  std::uint64_t offset_ = 0;
  bool opened_once_ = false;
  std::string partial_;  // a line whose newline has not been written yet
};

}  // namespace gpu_node::dashboard
