#include "swarmlet/join_token.h"

#include <catch2/catch.hpp>
#include <set>

namespace {
const std::string kFp(64, 'a');
}

TEST_CASE("join token: new tokens round trip and are distinct", "[swarmlet][token]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = swarmlet::NewJoinToken(kFp);
    REQUIRE(t.ok());
    CHECK(t->secret.size() == 32);
    const std::string text = t->ToString();
    CHECK(text.starts_with("SWMTKN-1-" + kFp + "-"));
    auto back = swarmlet::ParseJoinToken(text);
    REQUIRE(back.ok());
    CHECK(back->secret == t->secret);
    CHECK(back->Id() == t->secret.substr(0, 8));
    seen.insert(text);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("join token: the stored hash is stable and not the secret", "[swarmlet][token]") {
  auto t = *swarmlet::NewJoinToken(kFp);
  auto h1 = t.SecretHashHex();
  auto h2 = swarmlet::ParseJoinToken(t.ToString())->SecretHashHex();
  REQUIRE(h1.ok());
  CHECK(*h1 == *h2);
  CHECK(h1->size() == 64);
  CHECK(h1->find(t.secret) == std::string::npos);
}

TEST_CASE("join token: malformed tokens are refused with a reason", "[swarmlet][token]") {
  const std::string secret(32, 'b');
  for (const std::string& bad : {std::string(""), std::string("hunter2"),
                                "SWMTKN-1-" + kFp,                            // no secret
                                "SWMTKN-2-" + kFp + "-" + secret,             // other version
                                "SWMTKN-1-" + kFp.substr(1) + "-" + secret,   // short fingerprint
                                "SWMTKN-1-" + std::string(64, 'A') + "-" + secret,  // uppercase
                                "SWMTKN-1-" + kFp + "-" + secret + "x",       // long secret
                                "SWMTKN-1-" + kFp + "-" + std::string(32, '1')}) {  // not base32
    INFO(bad);
    auto r = swarmlet::ParseJoinToken(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains("create-join-token"));
  }
  CHECK_FALSE(swarmlet::NewJoinToken("not-a-fingerprint").ok());
}
