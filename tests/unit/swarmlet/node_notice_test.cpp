#include "swarmlet/node_notice.h"

#include <catch2/catch.hpp>

using swarmlet::DecodeNodeNotice;
using swarmlet::EncodeNodeNotice;
using swarmlet::NodeNotice;

TEST_CASE("node notice round trip and refusals", "[swarmlet][protocol]") {
  for (NodeNotice n : {NodeNotice::kRestarting, NodeNotice::kLeaving, NodeNotice::kRemoved}) {
    auto bytes = EncodeNodeNotice(n);
    REQUIRE(bytes.ok());
    auto back = DecodeNodeNotice(*bytes);
    REQUIRE(back.ok());
    CHECK(*back == n);
  }
  CHECK(swarmlet::NodeNoticeName(NodeNotice::kRestarting) == "restarting");
  CHECK(swarmlet::NodeNoticeName(NodeNotice::kLeaving) == "leaving");
  CHECK(swarmlet::NodeNoticeName(NodeNotice::kRemoved) == "removed");
  // Removed (3) came later with the same version: its bytes are fixed.
  CHECK(*EncodeNodeNotice(NodeNotice::kRemoved) == std::string("\x92\x01\x03", 3));
  CHECK_FALSE(EncodeNodeNotice(static_cast<NodeNotice>(7)).ok());
  // [1, 4]: an unknown kind; [2, 1]: a future version; garbage; truncated; too long.
  const std::string unknown_kind("\x92\x01\x04", 3), future("\x92\x02\x01", 3), map("\x81\x01\x01", 3);
  CHECK(DecodeNodeNotice(unknown_kind).status().message().find("kind") != std::string::npos);
  CHECK(DecodeNodeNotice(future).status().code() == mesh::StatusCode::kUnsupported);
  CHECK_FALSE(DecodeNodeNotice(map).ok());
  CHECK_FALSE(DecodeNodeNotice(std::string("\x92\x01", 2)).ok());
  CHECK_FALSE(DecodeNodeNotice("").ok());
  CHECK_FALSE(DecodeNodeNotice(std::string(200, '\x01')).ok());
}
