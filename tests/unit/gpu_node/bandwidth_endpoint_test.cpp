// The bandwidth endpoint and `stratoswarm-test bandwidth`'s client, in
// process on loopback: both directions move bytes for about the asked
// duration; a key the authorizer refuses is refused at once (not a timeout);
// a wrong server key and a closed port end in the timeout; destroying the
// endpoint mid-test is prompt and the client reports the stall.
#include "serve/bandwidth_endpoint.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <thread>

#include "mesh/crypto.h"
#include "swarmlet/bandwidth.h"

namespace {

using namespace std::chrono_literals;
using swarmlet::BandwidthDirection;

mesh::CurveKeyPair Keys() {
  auto k = mesh::GenerateCurveKeyPair();
  REQUIRE(k.ok());
  return std::move(*k);
}

swarmlet::BandwidthTarget Target(int port, const mesh::CurveKeyPair& server,
                                 const mesh::CurveKeyPair& client) {
  swarmlet::BandwidthTarget t;
  t.ip = "127.0.0.1";
  t.port = port;
  t.server_key = server.public_key;
  t.client_keys.public_key = client.public_key;
  std::memcpy(t.client_keys.secret_key.data(), client.secret_key.data(), 32);
  return t;
}

}  // namespace

TEST_CASE("bandwidth: both directions between an admitted node and the endpoint",
          "[gpu_node][bandwidth]") {
  const auto server = Keys();
  const auto node = Keys();
  const auto stranger = Keys();
  std::atomic<int> asked{0};
  auto endpoint = gpu_node::BandwidthEndpoint::Start("127.0.0.1", 0, server,
                                                     [&](const mesh::CurvePublicKey& key) {
                                                       ++asked;
                                                       return key == node.public_key;
                                                     });
  REQUIRE(endpoint.ok());
  const int port = (*endpoint)->port();
  REQUIRE(port > 0);

  for (const auto direction : {BandwidthDirection::kDownload, BandwidthDirection::kUpload}) {
    auto r = swarmlet::MeasureBandwidth(Target(port, server, node), direction, 300ms, 5s);
    REQUIRE(r.ok());
    CHECK(r->direction == direction);
    CHECK(r->bytes >= swarmlet::kBandwidthChunkBytes * swarmlet::kBandwidthWindow);
    CHECK(r->bytes % swarmlet::kBandwidthChunkBytes == 0);
    CHECK(r->seconds >= 0.3);
    CHECK(r->seconds < 3.0);
    CHECK(r->mbit_per_s() > 0);
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto refused = swarmlet::MeasureBandwidth(Target(port, server, stranger),
                                            BandwidthDirection::kDownload, 300ms, 5s);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == mesh::StatusCode::kPermissionDenied);
  CHECK_THAT(refused.status().message(), Catch::Contains("refused this node's key"));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // the ZAP answer, not the timeout
  CHECK((*endpoint)->refused() >= 1);
  CHECK(asked >= 3);
}

TEST_CASE("bandwidth: a wrong server key or a closed port times out with a reason",
          "[gpu_node][bandwidth]") {
  const auto server = Keys();
  const auto other = Keys();
  const auto node = Keys();
  auto endpoint = gpu_node::BandwidthEndpoint::Start(
      "127.0.0.1", 0, server, [](const mesh::CurvePublicKey&) { return true; });
  REQUIRE(endpoint.ok());
  auto wrong = swarmlet::MeasureBandwidth(Target((*endpoint)->port(), other, node),
                                          BandwidthDirection::kDownload, 100ms, 500ms);
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.status().message(), Catch::Contains("no answer"));

  const int closed = (*endpoint)->port();
  endpoint->reset();
  auto gone = swarmlet::MeasureBandwidth(Target(closed, server, node),
                                         BandwidthDirection::kDownload, 100ms, 500ms);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == mesh::StatusCode::kUnavailable);
}

TEST_CASE("bandwidth: the endpoint stops promptly in the middle of a test",
          "[gpu_node][bandwidth]") {
  const auto server = Keys();
  const auto node = Keys();
  auto endpoint = gpu_node::BandwidthEndpoint::Start(
      "127.0.0.1", 0, server, [](const mesh::CurvePublicKey&) { return true; });
  REQUIRE(endpoint.ok());
  mesh::Result<swarmlet::BandwidthResult> result = mesh::Status::Internal("test", "not run");
  std::thread client([&] {
    result = swarmlet::MeasureBandwidth(Target((*endpoint)->port(), server, node),
                                        BandwidthDirection::kDownload, 30s, 1s);
  });
  std::this_thread::sleep_for(300ms);
  const auto t0 = std::chrono::steady_clock::now();
  endpoint->reset();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  client.join();
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.status().message(), Catch::Contains("stopped answering"));
}
