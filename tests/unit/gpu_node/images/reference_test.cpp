#include "images/reference.h"

#include <catch2/catch.hpp>

using images::ParseReference;

namespace {
const std::string kDigest = "sha256:" + std::string(64, 'a');
}

TEST_CASE("references: name, tag, digest, registry host", "[images]") {
  auto r = ParseReference("busybox");
  REQUIRE(r.ok());
  CHECK(r->name == "busybox");
  CHECK(r->tag == "latest");
  CHECK(r->digest.empty());

  r = ParseReference("busybox:1.36");
  REQUIRE(r.ok());
  CHECK(r->name == "busybox");
  CHECK(r->tag == "1.36");

  r = ParseReference("busybox@" + kDigest);
  REQUIRE(r.ok());
  CHECK(r->name == "busybox");
  CHECK(r->tag.empty());
  CHECK(r->digest == kDigest);

  r = ParseReference("localhost:5000/busybox:1.36");
  REQUIRE(r.ok());
  CHECK(r->name == "localhost:5000/busybox");
  CHECK(r->tag == "1.36");

  r = ParseReference("localhost:5000/team/app");
  REQUIRE(r.ok());
  CHECK(r->name == "localhost:5000/team/app");
  CHECK(r->tag == "latest");

  r = ParseReference("127.0.0.1:5000/test:1@" + kDigest);
  REQUIRE(r.ok());
  CHECK(r->name == "127.0.0.1:5000/test");
  CHECK(r->tag == "1");
  CHECK(r->digest == kDigest);
  CHECK(images::ToString(*r) == "127.0.0.1:5000/test:1@" + kDigest);

  r = ParseReference("docker.io/library/alpine:3.19");
  REQUIRE(r.ok());
  CHECK(r->name == "docker.io/library/alpine");
}

TEST_CASE("references: malformed ones are one-line InvalidArgument errors", "[images]") {
  for (const std::string& bad : std::vector<std::string>{
           "", "Busybox", "busybox:", ":tag", "busybox@sha256:abc",
           "busybox@md5:" + std::string(32, 'a'), "busy box", "busybox:-x", "/busybox", "busybox/",
           "a//b", "localhost:50a0/x", "x@" + kDigest + "x", "busybox:1.36:2"}) {
    INFO(bad);
    auto r = ParseReference(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
    CHECK(r.status().message().find('\n') == std::string::npos);
  }
  CHECK(ParseReference("BUSYBOX").status().message().find("lowercase") != std::string::npos);
}
