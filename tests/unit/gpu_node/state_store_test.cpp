#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "state/store.h"

namespace fs = std::filesystem;
using state::NodeRecord;
using state::NodeStatus;
using state::TokenRecord;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/state-store-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string db() const { return (path / "state.db").string(); }
};

NodeRecord Pi(const std::string& name, std::int64_t joined) {
  NodeRecord n;
  n.id = "id-" + name;
  n.name = name;
  n.role = "worker";
  n.type = "rpi";
  n.arch = "aarch64";
  n.model = "Raspberry Pi 4 Model B Rev 1.4";
  n.cores = 4;
  n.memory_mb = 3793;
  n.labels = {{"zone", "shelf-1"}, {"disk", "ssd"}};
  n.endpoint = "tcp://10.0.0.11:7946";
  n.curve_key_hex = std::string(64, 'c');
  n.signing_key_hex = std::string(64, 'e');
  n.joined_ns = joined;
  n.join_ms = 41.5;
  n.cert_not_after_ns = joined + 1'000'000;
  return n;
}

}  // namespace

TEST_CASE("state store: nodes round trip and survive reopening", "[gpu_node][state]") {
  TempDir dir;
  {
    auto store = state::OpenSqliteStore(dir.db());
    REQUIRE(store.ok());
    CHECK((*store)->PutNode(Pi("rpi-2", 20)).ok());
    CHECK((*store)->PutNode(Pi("rpi-1", 10)).ok());
  }
  const auto mode = fs::status(dir.db()).permissions() & fs::perms::all;
  CHECK(mode == (fs::perms::owner_read | fs::perms::owner_write));
  auto store = state::OpenSqliteStore(dir.db());
  REQUIRE(store.ok());
  auto nodes = (*store)->ListNodes();
  REQUIRE(nodes.ok());
  REQUIRE(nodes->size() == 2);
  CHECK((*nodes)[0] == Pi("rpi-1", 10));  // ordered by join time
  CHECK((*nodes)[1].name == "rpi-2");

  CHECK((*store)->SetNodeStatus("id-rpi-1", NodeStatus::kDown, 99).ok());
  auto got = (*store)->GetNode("id-rpi-1");
  REQUIRE(got.ok());
  CHECK(got->status == NodeStatus::kDown);
  CHECK(got->status_since_ns == 99);
  CHECK((*store)->GetNode("nope").status().code() == mesh::StatusCode::kNotFound);
  CHECK((*store)->SetNodeStatus("nope", NodeStatus::kDown, 1).code() == mesh::StatusCode::kNotFound);
  auto by_name = (*store)->FindNodeByName("rpi-2");
  REQUIRE(by_name.ok());
  REQUIRE(by_name->has_value());
  CHECK((*by_name)->id == "id-rpi-2");
  CHECK_FALSE((*(*store)->FindNodeByName("rpi-9")).has_value());
}

TEST_CASE("state store: a rejoin replaces the node's record", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  CHECK(store->PutNode(Pi("rpi-1", 10)).ok());
  NodeRecord again = Pi("rpi-1", 50);
  again.endpoint = "tcp://10.0.0.12:7946";
  CHECK(store->PutNode(again).ok());
  auto nodes = *store->ListNodes();
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].endpoint == "tcp://10.0.0.12:7946");
}

TEST_CASE("state store: tokens are stored by hash, revoked and counted", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  TokenRecord t{"abcd1234", std::string(64, 'h'), "worker", 1, 100, false, 0};
  CHECK(store->PutToken(t).ok());
  CHECK(store->PutToken(t).code() == mesh::StatusCode::kAlreadyExists);
  auto found = store->FindTokenByHash(std::string(64, 'h'));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK(**found == t);
  CHECK_FALSE((*store->FindTokenByHash(std::string(64, 'x'))).has_value());
  CHECK(store->CountTokenUse("abcd1234").ok());
  CHECK(store->RevokeToken("abcd1234").ok());
  auto listed = *store->ListTokens();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].revoked);
  CHECK(listed[0].uses == 1);
  CHECK(store->RevokeToken("nope").code() == mesh::StatusCode::kNotFound);
}

TEST_CASE("state store: events are sequenced", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  auto a = store->AppendEvent({0, 1, "node_joined", "id-rpi-1", "{}"});
  auto b = store->AppendEvent({0, 2, "node_down", "id-rpi-1", "missed heartbeats"});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*b > *a);
  auto since = *store->EventsSince(*a);
  REQUIRE(since.size() == 1);
  CHECK(since[0].kind == "node_down");
  CHECK(since[0].detail == "missed heartbeats");
}

TEST_CASE("state store: a file that is not a database is refused", "[gpu_node][state]") {
  TempDir dir;
  std::ofstream(dir.db()) << std::string(4096, 'x');
  auto store = state::OpenSqliteStore(dir.db());
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == mesh::StatusCode::kCorrupt);
  CHECK_THAT(store.status().message(), Catch::Contains("not a StratoSwarm state database"));
  CHECK(state::OpenSqliteStore("/nonexistent-dir/state.db").status().code() ==
        mesh::StatusCode::kNotFound);
}

TEST_CASE("state store: what was acknowledged survives kill -9", "[gpu_node][state]") {
  TempDir dir;
  int ack[2];
  REQUIRE(pipe(ack) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The writer: acknowledges each stored node, then keeps writing until killed.
    auto store = *state::OpenSqliteStore(dir.db());
    for (int i = 0;; ++i) {
      if (!store->PutNode(Pi("rpi-" + std::to_string(i), i)).ok()) _exit(1);
      if (write(ack[1], &i, sizeof i) != sizeof i) _exit(1);
    }
  }
  close(ack[1]);
  int last = -1, i = 0;
  while (last < 50 && read(ack[0], &i, sizeof i) == sizeof i) last = i;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  while (read(ack[0], &i, sizeof i) == sizeof i) last = i;  // acks written before the kill
  close(ack[0]);

  auto store = state::OpenSqliteStore(dir.db());
  REQUIRE(store.ok());
  auto nodes = (*store)->ListNodes();
  REQUIRE(nodes.ok());
  INFO("last acknowledged: rpi-" << last);
  CHECK(static_cast<int>(nodes->size()) >= last + 1);
  for (int n = 0; n <= last; ++n) CHECK((*(*store)->FindNodeByName("rpi-" + std::to_string(n))).has_value());
}
