// The GPU peer's join endpoint, driven in-process on loopback: a signed
// request is admitted once; the same bytes sent again (a replay), a request
// whose signature does not cover its fields, and a stale one are refused —
// each with its one-line reason, none of them recorded as a node.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "api/api.h"
#include "mesh/crypto.h"
#include "serve/peer.h"
#include "swarmlet/join_protocol.h"
#include "swarmlet/join_token.h"

namespace fs = std::filesystem;

namespace {

struct RunningServe {
  std::string dir;
  gpu_node::ServeOptions options;
  std::atomic<bool> stop{false};
  std::ostringstream out;
  std::thread thread;
  int rc = -1;

  RunningServe() {
    char tmpl[] = "/tmp/serve-join-test-XXXXXX";
    dir = mkdtemp(tmpl);
    std::mt19937 rng(static_cast<unsigned>(getpid()) ^ std::random_device{}());
    const int base = 20000 + static_cast<int>(rng() % 30000);
    options.state_dir = dir + "/primary";
    options.listen_ip = "127.0.0.1";
    options.mesh_port = base;
    options.join_port = base + 1;
    options.bootstrap_port = base + 2;
    options.mdns = false;
    thread = std::thread([this] { rc = gpu_node::RunServe(options, stop, out); });
  }
  ~RunningServe() {
    stop = true;
    thread.join();
    fs::remove_all(dir);
  }
  // Serve opens its join socket before the bootstrap endpoint: once both the
  // API and the bootstrap endpoint answer, joins can be sent.
  bool WaitReady() {
    for (int i = 0; i < 200; ++i) {
      if (api::CallApi(options.state_dir, {{"cmd", "nodes"}}).ok()) {
        auto info = swarmlet::FetchBootstrap("127.0.0.1", options.bootstrap_port, std::chrono::milliseconds(200));
        if (info.ok()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }
};

swarmlet::JoinRequest SignedRequest(const swarmlet::JoinToken& token, const mesh::NodeKeys& keys,
                                    std::int64_t sent_ns) {
  swarmlet::JoinRequest req;
  req.token_secret = token.secret;
  REQUIRE(mesh::RandomBytes(req.nonce).ok());
  req.sent_ns = sent_ns;
  req.name = "replay-pi";
  req.signing_key = keys.signing.public_key;
  req.curve_key = keys.curve.public_key;
  req.mesh_endpoint = "tcp://127.0.0.1:1";
  req.profile.arch = "aarch64";
  req.profile.cores = 4;
  auto bytes = swarmlet::JoinRequestSignedBytes(req);
  REQUIRE(bytes.ok());
  auto sig = mesh::Sign(keys.signing.secret_key, *bytes);
  REQUIRE(sig.ok());
  req.signature = *sig;
  return req;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("serve: a join request is admitted once, replayed, forged or stale ones are refused",
          "[gpu_node][serve][join]") {
  RunningServe serve;
  REQUIRE(serve.WaitReady());
  auto created = api::CallApi(serve.options.state_dir, {{"cmd", "create-join-token"}, {"ttl_s", 600}});
  REQUIRE(created.ok());
  auto token = swarmlet::ParseJoinToken((*created)["token"].get<std::string>());
  REQUIRE(token.ok());
  auto info = swarmlet::FetchBootstrap("127.0.0.1", serve.options.bootstrap_port, std::chrono::seconds(2));
  REQUIRE(info.ok());
  REQUIRE(swarmlet::CheckFingerprint(info->keys, token->fingerprint_hex).ok());
  auto keys = mesh::GenerateNodeKeys();
  REQUIRE(keys.ok());
  const auto timeout = std::chrono::milliseconds(5000);

  const swarmlet::JoinRequest req = SignedRequest(*token, *keys, NowNs());
  auto first = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, req, timeout);
  REQUIRE(first.ok());
  CHECK(first->accepted);
  CHECK(first->error.empty());
  CHECK(first->certificate.name == "replay-pi");

  SECTION("the same request again is a replay") {
    auto again = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, req, timeout);
    REQUIRE(again.ok());
    CHECK_FALSE(again->accepted);
    CHECK(again->error == "replayed join request refused");
  }
  SECTION("a field changed after signing does not verify") {
    swarmlet::JoinRequest forged = SignedRequest(*token, *keys, NowNs());
    forged.name = "evil-pi";
    auto answer = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, forged, timeout);
    REQUIRE(answer.ok());
    CHECK_FALSE(answer->accepted);
    CHECK(answer->error == "the join request's signature does not verify");
  }
  SECTION("a request from ten minutes ago is stale") {
    const swarmlet::JoinRequest old = SignedRequest(*token, *keys, NowNs() - 600'000'000'000LL);
    auto answer = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, old, timeout);
    REQUIRE(answer.ok());
    CHECK_FALSE(answer->accepted);
    CHECK(answer->error.find("stale") != std::string::npos);
  }
  // Only the admitted request made a node (the primary is the other one).
  auto nodes = api::CallApi(serve.options.state_dir, {{"cmd", "nodes"}});
  REQUIRE(nodes.ok());
  CHECK(nodes->size() == 2);
  for (const auto& n : *nodes) CHECK(n["name"] != "evil-pi");
}

TEST_CASE("serve: node rm revokes a node, its key is refused by the join endpoint, with the date",
          "[gpu_node][serve][join][lifecycle]") {
  RunningServe serve;
  REQUIRE(serve.WaitReady());
  const std::string& dir = serve.options.state_dir;
  auto created = api::CallApi(dir, {{"cmd", "create-join-token"}, {"ttl_s", 600}});
  REQUIRE(created.ok());
  auto token = swarmlet::ParseJoinToken((*created)["token"].get<std::string>());
  REQUIRE(token.ok());
  auto info = swarmlet::FetchBootstrap("127.0.0.1", serve.options.bootstrap_port, std::chrono::seconds(2));
  REQUIRE(info.ok());
  auto keys = mesh::GenerateNodeKeys();
  REQUIRE(keys.ok());
  const auto timeout = std::chrono::milliseconds(5000);
  auto first = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, SignedRequest(*token, *keys, NowNs()), timeout);
  REQUIRE(first.ok());
  REQUIRE(first->accepted);
  // The default lifetime is 30 days.
  CHECK(first->certificate.not_after_ns - first->certificate.not_before_ns ==
        (30LL * 86400 + 300) * 1'000'000'000LL);

  // Its mesh endpoint answers nothing: without --force it is not removed.
  auto refused = api::CallApi(dir, {{"cmd", "node-rm"}, {"name", "replay-pi"}});
  CHECK(refused.status().code() == mesh::StatusCode::kUnavailable);
  CHECK(refused.status().message().find("--force") != std::string::npos);
  CHECK(api::CallApi(dir, {{"cmd", "node-rm"}, {"name", "no-such-pi"}}).status().code() ==
        mesh::StatusCode::kNotFound);
  auto self = api::CallApi(dir, {{"cmd", "node-rm"}, {"name", "primary-gpu"}, {"force", true}});
  CHECK(self.status().code() == mesh::StatusCode::kInvalidArgument);

  auto removed = api::CallApi(dir, {{"cmd", "node-rm"}, {"name", "replay-pi"}, {"force", true}});
  REQUIRE(removed.ok());
  CHECK((*removed)["told"] == false);
  CHECK((*removed)["reason"] == "node rm --force (unreachable)");
  auto nodes = api::CallApi(dir, {{"cmd", "nodes"}});
  REQUIRE(nodes.ok());
  CHECK(nodes->size() == 1);
  auto revoked = api::CallApi(dir, {{"cmd", "nodes-revoked"}});
  REQUIRE(revoked.ok());
  REQUIRE(revoked->size() == 1);
  CHECK((*revoked)[0]["name"] == "replay-pi");
  CHECK((*revoked)[0]["signing_key"] == mesh::ToHex(keys->signing.public_key));

  // The saved identity (its signing key) is refused even with a good token;
  // a token-less request (the swarmlet's probe) hears the same.
  const std::string expected = "node replay-pi was removed from the cluster on " +
                               (*removed)["revoked"].get<std::string>() +
                               "; join again with a new token and a new identity";
  auto again = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, SignedRequest(*token, *keys, NowNs()), timeout);
  REQUIRE(again.ok());
  CHECK_FALSE(again->accepted);
  CHECK(again->error == expected);
  swarmlet::JoinToken no_secret = *token;
  no_secret.secret.clear();
  auto probe = swarmlet::ExchangeJoin("127.0.0.1", *info, *keys, SignedRequest(no_secret, *keys, NowNs()), timeout);
  REQUIRE(probe.ok());
  CHECK(probe->error == expected);
  // New keys (a new identity) with the same name and token are admitted.
  auto fresh_keys = mesh::GenerateNodeKeys();
  REQUIRE(fresh_keys.ok());
  auto fresh =
      swarmlet::ExchangeJoin("127.0.0.1", *info, *fresh_keys, SignedRequest(*token, *fresh_keys, NowNs()), timeout);
  REQUIRE(fresh.ok());
  CHECK(fresh->accepted);
}
