// Status and Result<T>: the error type every StratoSwarm API returns.
//
// A Status is OK or carries a code plus a message naming the operation and its
// cause ("open /var/lib/stratoswarm/ca.key: Permission denied"). Build one only
// through the factories; each foreign error space (errno, ZeroMQ, libsodium,
// libcgroup, Avahi, CUDA) has exactly one translation point that produces it.
// Result<T> holds either a value or a non-OK Status.
//
// Thread safety: both are values; distinct objects may be used from any thread.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mesh {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,   // the caller passed something malformed or impossible
  kNotFound,          // a named thing does not exist
  kAlreadyExists,     // a thing to create exists already
  kPermissionDenied,  // the OS or the cluster refused (not root, bad token, uncertified key)
  kCorrupt,           // bytes from disk or the wire fail to decode or verify
  kUnsupported,       // a version, mode or feature this build does not speak
  kUnavailable,       // a peer, daemon or device is not reachable now; retrying may help
  kTimeout,           // a deadline passed
  kIoError,           // the OS failed an I/O operation
  kInternal,          // a bug or an invariant broken inside StratoSwarm
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string_view op, std::string_view cause) {
    return {StatusCode::kInvalidArgument, op, cause};
  }
  static Status NotFound(std::string_view op, std::string_view cause) {
    return {StatusCode::kNotFound, op, cause};
  }
  static Status AlreadyExists(std::string_view op, std::string_view cause) {
    return {StatusCode::kAlreadyExists, op, cause};
  }
  static Status PermissionDenied(std::string_view op, std::string_view cause) {
    return {StatusCode::kPermissionDenied, op, cause};
  }
  static Status Corrupt(std::string_view op, std::string_view cause) {
    return {StatusCode::kCorrupt, op, cause};
  }
  static Status Unsupported(std::string_view op, std::string_view cause) {
    return {StatusCode::kUnsupported, op, cause};
  }
  static Status Unavailable(std::string_view op, std::string_view cause) {
    return {StatusCode::kUnavailable, op, cause};
  }
  static Status Timeout(std::string_view op, std::string_view cause) {
    return {StatusCode::kTimeout, op, cause};
  }
  static Status IoError(std::string_view op, std::string_view cause) {
    return {StatusCode::kIoError, op, cause};
  }
  static Status Internal(std::string_view op, std::string_view cause) {
    return {StatusCode::kInternal, op, cause};
  }
  // The errno translation point: ENOENT -> NotFound, EACCES/EPERM ->
  // PermissionDenied, EEXIST -> AlreadyExists, ETIMEDOUT -> Timeout, the rest IoError.
  static Status FromErrno(std::string_view op, int err);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // "op: cause", empty when OK.
  const std::string& message() const { return message_; }
  // "OK" or "<CodeName>: op: cause".
  std::string ToString() const;
  // The same code with "context: " put before the message (OK stays OK).
  Status WithContext(std::string_view context) const;

  bool operator==(const Status&) const = default;

 private:
  Status(StatusCode code, std::string_view op, std::string_view cause);

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<1>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<0>, std::move(status)) {  // NOLINT
    assert(!std::get<0>(v_).ok() && "a Result built from a Status needs an error");
  }

  bool ok() const { return v_.index() == 1; }
  // OK when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<0>(v_); }

  T& value() & { return std::get<1>(v_); }
  const T& value() const& { return std::get<1>(v_); }
  T&& value() && { return std::get<1>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace mesh

// Returns early from the enclosing function when `expr` is a non-OK Status.
#define MESH_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::mesh::Status mesh_status_ = (expr);     \
    if (!mesh_status_.ok()) return mesh_status_; \
  } while (0)
