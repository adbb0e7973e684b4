#include "zmq_error.h"

#include <zmq.h>

#include <cerrno>

namespace mesh::internal {

Status ZmqError(std::string_view op, int err) {
  const char* text = zmq_strerror(err);
  switch (err) {
    case ETERM:
    case EHOSTUNREACH:
    case EAGAIN:
      return Status::Unavailable(op, text);
    case EINVAL:
    case EMSGSIZE:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case ENOTSOCK:
      return Status::InvalidArgument(op, text);
    case EADDRINUSE:
      return Status::AlreadyExists(op, text);
    case EADDRNOTAVAIL:
    case ENODEV:
      return Status::NotFound(op, text);
    case ENOTSUP:
      return Status::Unsupported(op, text);
    case EMTHREAD:
    case ENOMEM:
    case EFSM:
      return Status::Internal(op, text);
    default:
      return Status::IoError(op, text);
  }
}

Status ZmqError(std::string_view op) { return ZmqError(op, zmq_errno()); }

}  // namespace mesh::internal
