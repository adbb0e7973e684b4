// The one translation point from ZeroMQ errors to mesh::Status.
//
// Thread safety: zmq_errno() is per thread; call right after the failing call.
#pragma once

#include <string_view>

#include "mesh/status.h"

namespace mesh::internal {

// `err` is a zmq_errno() value: ETERM and EHOSTUNREACH -> Unavailable,
// EINVAL/EMSGSIZE/EPROTONOSUPPORT/ENOCOMPATPROTO -> InvalidArgument,
// EADDRINUSE -> AlreadyExists, EADDRNOTAVAIL/ENODEV -> NotFound,
// ENOTSUP -> Unsupported, EMTHREAD/ENOMEM -> Internal, the rest IoError.
Status ZmqError(std::string_view op, int err);
// Same, with zmq_errno() of the calling thread.
Status ZmqError(std::string_view op);

}  // namespace mesh::internal
