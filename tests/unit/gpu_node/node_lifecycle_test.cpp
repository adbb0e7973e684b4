#include "serve/node_lifecycle.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "mesh/certificate_authority.h"
#include "mesh/crypto.h"
#include "mesh/identity_store.h"
#include "swarmlet/cert_renewal.h"

namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kNow = 1'795'687'200'000'000'000;  // 2026-11-26T10:00:00Z

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<state::StateStore> store;
  mesh::CertificateAuthority ca = *mesh::CertificateAuthority::Create();
  mesh::NodeKeys keys = *mesh::GenerateNodeKeys();
  state::NodeRecord node;

  Fixture() {
    char tmpl[] = "/tmp/node-lifecycle-test-XXXXXX";
    dir = mkdtemp(tmpl);
    store = std::move(*state::OpenSqliteStore((dir / "state.db").string()));
    node.id = "node-0123456789ab";
    node.name = "rpi-1";
    node.role = "worker";
    node.type = "rpi";
    node.labels = {{"zone", "shelf-1"}};
    node.endpoint = "tcp://10.0.0.11:7946";
    node.signing_key_hex = mesh::ToHex(keys.signing.public_key);
    node.curve_key_hex = mesh::ToHex(keys.curve.public_key);
    node.cert_not_after_ns = kNow + 10 * kSec;
    REQUIRE(store->PutNode(node).ok());
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST_CASE("node rm: who may be removed, and whether it is told", "[gpu_node][lifecycle]") {
  state::NodeRecord n;
  n.name = "rpi-1";
  n.role = "worker";
  CHECK(*gpu_node::CheckRemoval(n, true, false));
  CHECK(*gpu_node::CheckRemoval(n, true, true));
  CHECK_FALSE(*gpu_node::CheckRemoval(n, false, true));
  n.status = state::NodeStatus::kDown;
  auto refused = gpu_node::CheckRemoval(n, false, false);
  CHECK(refused.status().code() == mesh::StatusCode::kUnavailable);
  CHECK_THAT(refused.status().message(), Catch::Contains("(Down)") && Catch::Contains("--force"));
  n.role = "primary";
  CHECK(gpu_node::CheckRemoval(n, true, true).status().code() == mesh::StatusCode::kInvalidArgument);
  CHECK(gpu_node::RevocationOf(n, 5, false, true).reason == "node rm --force (unreachable)");
  CHECK(gpu_node::RevocationOf(n, 5, true, false).reason == "node rm");
}

TEST_CASE("a revoked node is refused with its removal date, renewal re-signs the same keys",
          "[gpu_node][lifecycle]") {
  Fixture f;
  CHECK_FALSE(gpu_node::RevokedRefusal(*f.store, f.node.signing_key_hex));

  auto renewed = gpu_node::RenewCertificate(f.ca, *f.store, f.node.id, kNow, std::chrono::seconds(6));
  REQUIRE(renewed.ok());
  CHECK(renewed->signing_key == f.keys.signing.public_key);
  CHECK(renewed->curve_key == f.keys.curve.public_key);
  CHECK(renewed->labels == f.node.labels);
  CHECK(renewed->not_after_ns == kNow + 6 * kSec);
  CHECK(renewed->not_before_ns == kNow - 300 * kSec);
  CHECK(mesh::VerifyCertificate(f.ca.public_keys(), *renewed, kNow).ok());
  CHECK(swarmlet::RenewalDueNs(*renewed) == kNow + 4 * kSec);
  CHECK(f.store->GetNode(f.node.id)->cert_not_after_ns == kNow + 6 * kSec);
  CHECK(gpu_node::RenewCertificate(f.ca, *f.store, "node-unknown", kNow, std::chrono::seconds(6)).status().code() ==
        mesh::StatusCode::kNotFound);

  REQUIRE(f.store->RevokeNode(gpu_node::RevocationOf(f.node, kNow, true, false)).ok());
  for (const std::string& key : {f.node.signing_key_hex, f.node.curve_key_hex}) {
    auto refusal = gpu_node::RevokedRefusal(*f.store, key);
    REQUIRE(refusal);
    CHECK(*refusal ==
          "node rpi-1 was removed from the cluster on 2026-11-26T10:00:00Z; join again with a new token and a new "
          "identity");
  }
  // Gone from the nodes: renewal says it is no member (its revocation is what the join endpoint says).
  CHECK_FALSE(gpu_node::RenewCertificate(f.ca, *f.store, f.node.id, kNow, std::chrono::seconds(6)).ok());
}

TEST_CASE("the mesh thread queue runs posted calls on the mesh thread", "[gpu_node][lifecycle]") {
  gpu_node::MeshThreadQueue queue;
  std::atomic<bool> stop{false};
  std::thread::id ran_on;
  std::thread mesh([&] {
    while (!stop) {
      queue.RunPending();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  auto r = queue.Call(
      [&]() -> mesh::Result<nlohmann::json> {
        ran_on = std::this_thread::get_id();
        return nlohmann::json{{"ok", 1}};
      },
      std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK((*r)["ok"] == 1);
  CHECK(ran_on == mesh.get_id());
  auto failed = queue.Call([]() -> mesh::Result<nlohmann::json> { return mesh::Status::NotFound("x", "y"); },
                           std::chrono::seconds(5));
  CHECK(failed.status().code() == mesh::StatusCode::kNotFound);
  stop = true;
  mesh.join();
  // Nobody runs the queue: the caller is not stuck.
  CHECK(queue.Call([]() -> mesh::Result<nlohmann::json> { return nlohmann::json{}; }, std::chrono::milliseconds(20))
            .status()
            .code() == mesh::StatusCode::kTimeout);
  // Closed (serve stopping): a waiting caller and later ones fail at once.
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    queue.Close();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto waiting = queue.Call([]() -> mesh::Result<nlohmann::json> { return nlohmann::json{}; }, std::chrono::seconds(20));
  closer.join();
  CHECK(waiting.status().code() == mesh::StatusCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(queue.Call([]() -> mesh::Result<nlohmann::json> { return nlohmann::json{}; }, std::chrono::seconds(20))
            .status()
            .code() == mesh::StatusCode::kUnavailable);
}
