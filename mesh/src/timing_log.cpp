#include "mesh/timing_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

namespace mesh {
namespace {

constexpr std::array<std::string_view, 5> kReservedKeys = {"ts_ns", "node", "event", "phase", "ms"};

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if invalid.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < s.size() && b(i) >= lo && b(i) <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no UTF-16 surrogates
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

void AppendQuoted(std::string& out, std::string_view s) {
  out.push_back('"');
  out.append(JsonEscape(s));
  out.push_back('"');
}

// Shortest text that reads back as the same double.
void AppendNumber(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendMs(std::string& out, double ms) {
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "%.3f", ms);
  out.append(buf, static_cast<std::size_t>(n));
}

std::string HumanValue(const TimingField::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  std::string out;
  AppendNumber(out, std::get<double>(v));
  return out;
}

Status ValidateExtra(std::span<const TimingField> extra) {
  std::set<std::string_view> seen;
  for (const TimingField& f : extra) {
    for (std::string_view reserved : kReservedKeys) {
      if (f.key == reserved)
        return Status::InvalidArgument("timing record", "extra field '" + f.key + "' is reserved");
    }
    if (f.key.empty())
      return Status::InvalidArgument("timing record", "extra field with an empty key");
    if (!seen.insert(f.key).second) {
      return Status::InvalidArgument("timing record", "extra field '" + f.key + "' given twice");
    }
    if (const auto* d = std::get_if<double>(&f.value); d != nullptr && !std::isfinite(*d)) {
      return Status::InvalidArgument("timing record",
                                     "extra field '" + f.key + "' is not a finite number");
    }
  }
  return Status::Ok();
}

Status WriteLine(int fd, std::string_view line, const std::string& path) {
  // O_APPEND makes each write land at the end as a unit; a short write (disk
  // full) is continued rather than leaving half a line.
  while (!line.empty()) {
    const ssize_t n = ::write(fd, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("append timing record to " + path, errno);
    }
    line.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 8);
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s[0]);
    if (c >= 0x80) {
      const std::size_t len = Utf8SequenceLength(s);
      if (len == 0) {
        out.append("\\ufffd");
        s.remove_prefix(1);
      } else {
        out.append(s.substr(0, len));
        s.remove_prefix(len);
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    s.remove_prefix(1);
  }
  return out;
}

TimingSink StderrTimingSink() {
  return [](std::string_view line) {
    while (!line.empty()) {
      const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // nowhere to report a broken stderr
      line.remove_prefix(static_cast<std::size_t>(n));
    }
  };
}

Result<std::unique_ptr<TimingLog>> TimingLog::Open(const std::string& path, std::string node,
                                                   const Clock& clock, TimingSink human) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open timing log " + path, errno);
  return std::unique_ptr<TimingLog>(
      new TimingLog(fd, path, std::move(node), clock, std::move(human)));
}

TimingLog::TimingLog(int fd, std::string path, std::string node, const Clock& clock,
                     TimingSink human)
    : fd_(fd),
      path_(std::move(path)),
      clock_(clock),
      human_(std::move(human)),
      node_(std::move(node)) {}

TimingLog::~TimingLog() { ::close(fd_); }

void TimingLog::SetMaxBytes(std::uint64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  max_bytes_ = max_bytes;
}

void TimingLog::RotateIfFull() {
  struct stat open_file {};
  if (max_bytes_ == 0 || ::fstat(fd_, &open_file) != 0) return;
  struct stat named {};
  const bool same = ::stat(path_.c_str(), &named) == 0 && named.st_ino == open_file.st_ino &&
                    named.st_dev == open_file.st_dev;
  if (same && static_cast<std::uint64_t>(open_file.st_size) < max_bytes_) return;
  // Full (ours to move), or already moved by another process sharing it.
  if (same && ::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) return;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ::close(fd_);
  fd_ = fd;
}

void TimingLog::SetNode(std::string node) {
  std::lock_guard<std::mutex> lock(mu_);
  node_ = std::move(node);
}

void TimingLog::SetObserver(TimingObserver observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observer_ = std::move(observer);
}

Status TimingLog::Record(std::string_view event, std::string_view phase, double ms,
                         std::span<const TimingField> extra) {
  if (event.empty()) return Status::InvalidArgument("timing record", "empty event name");
  if (!std::isfinite(ms))
    return Status::InvalidArgument("timing record", "ms is not a finite number");
  MESH_RETURN_IF_ERROR(ValidateExtra(extra));

  std::string json;
  json.reserve(128);
  std::string human = "[timing] ";
  human.append(event);
  if (!phase.empty()) human.append(".").append(phase);
  char ms_text[48];
  std::snprintf(ms_text, sizeof ms_text, " %.1f ms", ms);
  human.append(ms_text);

  std::lock_guard<std::mutex> lock(mu_);
  // Stamped under the lock so timestamps never go backwards within a file.
  json.append("{\"ts_ns\":").append(std::to_string(clock_.WallNs()));
  json.append(",\"node\":");
  AppendQuoted(json, node_);
  json.append(",\"event\":");
  AppendQuoted(json, event);
  json.append(",\"phase\":");
  AppendQuoted(json, phase);
  json.append(",\"ms\":");
  AppendMs(json, ms);
  for (const TimingField& f : extra) {
    json.push_back(',');
    AppendQuoted(json, f.key);
    json.push_back(':');
    if (const auto* s = std::get_if<std::string>(&f.value)) {
      AppendQuoted(json, *s);
    } else if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
      json.append(std::to_string(*i));
    } else {
      AppendNumber(json, std::get<double>(f.value));
    }
    human.append(" ").append(f.key).append("=").append(HumanValue(f.value));
  }
  json.append("}\n");
  human.push_back('\n');
  RotateIfFull();
  Status s = WriteLine(fd_, json, path_);
  if (human_) human_(human);
  if (observer_) observer_(event, phase, ms);
  return s;
}

PhaseTimer TimingLog::StartPhase(std::string event, std::string phase) {
  return PhaseTimer(*this, std::move(event), std::move(phase));
}

PhaseTimer::PhaseTimer(TimingLog& log, std::string event, std::string phase)
    : log_(&log), event_(std::move(event)), phase_(std::move(phase)), start_(log.clock().Now()) {}

PhaseTimer::PhaseTimer(PhaseTimer&& other) noexcept
    : log_(other.log_),
      event_(std::move(other.event_)),
      phase_(std::move(other.phase_)),
      start_(other.start_),
      done_(other.done_) {
  other.done_ = true;
}

PhaseTimer::~PhaseTimer() {
  if (!done_) (void)Stop();
}

double PhaseTimer::ElapsedMs() const {
  return std::chrono::duration<double, std::milli>(log_->clock().Now() - start_).count();
}

Status PhaseTimer::Stop(std::initializer_list<TimingField> extra) {
  return Stop(std::span<const TimingField>(extra.begin(), extra.size()));
}

Status PhaseTimer::Stop(std::span<const TimingField> extra) {
  if (done_)
    return Status::InvalidArgument("timing " + event_ + "." + phase_, "phase already stopped");
  done_ = true;
  return log_->Record(event_, phase_, ElapsedMs(), extra);
}

}  // namespace mesh
