#include "mesh/status.h"

#include <cerrno>
#include <cstring>

namespace mesh {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kPermissionDenied: return "PermissionDenied";
    case StatusCode::kCorrupt: return "Corrupt";
    case StatusCode::kUnsupported: return "Unsupported";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kTimeout: return "Timeout";
    case StatusCode::kIoError: return "IoError";
    case StatusCode::kInternal: return "Internal";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string_view op, std::string_view cause) : code_(code) {
  message_.reserve(op.size() + cause.size() + 2);
  message_.append(op);
  if (!op.empty() && !cause.empty()) message_.append(": ");
  message_.append(cause);
}

Status Status::WithContext(std::string_view context) const {
  return ok() ? Status() : Status(code_, context, message_);
}

Status Status::FromErrno(std::string_view op, int err) {
  char buf[128];
  // GNU strerror_r returns the message pointer (maybe not buf).
  const char* text = strerror_r(err, buf, sizeof buf);
  switch (err) {
    case ENOENT: return NotFound(op, text);
    case EACCES:
    case EPERM: return PermissionDenied(op, text);
    case EEXIST: return AlreadyExists(op, text);
    case ETIMEDOUT: return Timeout(op, text);
    case EINVAL: return InvalidArgument(op, text);
    default: return IoError(op, text);
  }
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out.append(": ").append(message_);
  return out;
}

}  // namespace mesh
