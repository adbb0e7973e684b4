#include "mesh/status.h"

#include <catch2/catch.hpp>
#include <cerrno>
#include <memory>

using mesh::Result;
using mesh::Status;
using mesh::StatusCode;

TEST_CASE("Status: default is OK and prints OK", "[mesh][status]") {
  Status s;
  CHECK(s.ok());
  CHECK(s.code() == StatusCode::kOk);
  CHECK(s.ToString() == "OK");
  CHECK(s.message().empty());
}

TEST_CASE("Status: factories carry operation and cause", "[mesh][status]") {
  Status s = Status::NotFound("open ca.key", "no such file");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kNotFound);
  CHECK(s.message() == "open ca.key: no such file");
  CHECK(s.ToString() == "NotFound: open ca.key: no such file");
}

TEST_CASE("Status: errno translation point", "[mesh][status]") {
  CHECK(Status::FromErrno("open", ENOENT).code() == StatusCode::kNotFound);
  CHECK(Status::FromErrno("open", EACCES).code() == StatusCode::kPermissionDenied);
  CHECK(Status::FromErrno("mkdir", EPERM).code() == StatusCode::kPermissionDenied);
  CHECK(Status::FromErrno("mkdir", EEXIST).code() == StatusCode::kAlreadyExists);
  CHECK(Status::FromErrno("connect", ETIMEDOUT).code() == StatusCode::kTimeout);
  CHECK(Status::FromErrno("write", EIO).code() == StatusCode::kIoError);
  CHECK(Status::FromErrno("open x", ENOENT).message() == "open x: No such file or directory");
}

namespace {
Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("half", std::to_string(v) + " is odd");
  return v / 2;
}
Status Chain(int v, int& out) {
  auto r = Half(v);
  MESH_RETURN_IF_ERROR(r.status());
  out = *r;
  return Status::Ok();
}
}  // namespace

TEST_CASE("Result: holds a value or an error", "[mesh][status]") {
  auto good = Half(8);
  REQUIRE(good.ok());
  CHECK(*good == 4);
  CHECK(good.status().ok());

  auto bad = Half(7);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message() == "half: 7 is odd");
}

TEST_CASE("Result: move-only values and early return", "[mesh][status]") {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  std::unique_ptr<int> p = std::move(r).value();
  CHECK(*p == 5);

  int out = 0;
  CHECK(Chain(10, out).ok());
  CHECK(out == 5);
  CHECK(Chain(3, out).code() == StatusCode::kInvalidArgument);
  CHECK(out == 5);
}
