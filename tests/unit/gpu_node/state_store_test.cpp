#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "state/store.h"

namespace fs = std::filesystem;
using state::NodeRecord;
using state::NodeStatus;
using state::TokenRecord;
using state::WorkloadPhase;
using state::WorkloadRecord;

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

// Every field away from its default.
WorkloadRecord Work(const std::string& id, std::int64_t created, const std::string& node_id) {
  WorkloadRecord w;
  w.id = id;
  w.name = "web." + id;
  w.group = "web";
  w.replica = 3;
  w.image = "nginx-arm64";
  w.command = {"/bin/sh", "-c", "echo \"hi\" && sleep 1", "", "ünï"};
  w.cpu_millis = 250;
  w.memory_bytes = std::int64_t{3} << 32;
  w.gpus = 2;
  w.constraints = {"node.type==rpi", "node.labels.zone!=shelf-2"};
  w.restart = "on-failure:3";
  w.user = "1000:1000";  // issue 17's columns (schema version 5) round-trip too
  w.privileged = true;
  w.desired_running = false;
  w.node_id = node_id;
  w.phase = WorkloadPhase::kRunning;
  w.detail = "exited with \"code\" 1";
  w.exit_code = 137;
  w.signal = 9;
  w.oom_killed = true;
  w.restarts = 4;
  w.created_ns = created;
  w.updated_ns = created + 5;
  w.started_ns = created + 2;
  w.cpu_percent = 12.75;
  w.memory_usage_bytes = 123'456'789;
  return w;
}

// Runs SQL on the store's file behind its back (schema fixtures, corruption).
void RawSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err != nullptr ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::int64_t UserVersion(const std::string& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const std::int64_t v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
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

TEST_CASE("state store: workload phase names round trip", "[gpu_node][state]") {
  for (auto phase : {WorkloadPhase::kPending, WorkloadPhase::kStarting, WorkloadPhase::kRunning,
                     WorkloadPhase::kExited, WorkloadPhase::kFailed, WorkloadPhase::kStopped}) {
    const auto name = state::WorkloadPhaseName(phase);
    INFO(name);
    CHECK(state::ParseWorkloadPhase(name) == phase);
  }
  CHECK(state::WorkloadPhaseName(WorkloadPhase::kPending) == "Pending");
  CHECK(state::WorkloadPhaseName(WorkloadPhase::kStopped) == "Stopped");
  CHECK_FALSE(state::ParseWorkloadPhase("running").has_value());
  CHECK_FALSE(state::ParseWorkloadPhase("").has_value());
}

TEST_CASE("state store: workloads round trip every field and survive reopening",
          "[gpu_node][state]") {
  TempDir dir;
  const WorkloadRecord w = Work("0123456789ab", 100, "id-rpi-1");
  WorkloadRecord defaults;
  defaults.id = "00000000000d";
  {
    auto store = *state::OpenSqliteStore(dir.db());
    CHECK(store->PutWorkload(w).ok());
    CHECK(store->PutWorkload(defaults).ok());
    auto got = store->GetWorkload(w.id);
    REQUIRE(got.ok());
    CHECK(*got == w);
  }
  auto store = *state::OpenSqliteStore(dir.db());
  auto got = store->GetWorkload(w.id);
  REQUIRE(got.ok());
  CHECK(*got == w);
  auto got_defaults = store->GetWorkload(defaults.id);
  REQUIRE(got_defaults.ok());
  CHECK(*got_defaults == defaults);
}

TEST_CASE("state store: putting a workload again replaces it", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  WorkloadRecord w = Work("aaaaaaaaaaaa", 10, "");
  w.phase = WorkloadPhase::kPending;
  CHECK(store->PutWorkload(w).ok());
  w.node_id = "id-rpi-2";
  w.phase = WorkloadPhase::kStarting;
  w.command = {"true"};
  w.constraints.clear();
  CHECK(store->PutWorkload(w).ok());
  auto all = store->ListWorkloads();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 1);
  CHECK((*all)[0] == w);
}

TEST_CASE("state store: workloads list by creation then id, filtered by node",
          "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  // Stored out of order; two share a creation time.
  CHECK(store->PutWorkloads({Work("cccccccccccc", 30, "id-rpi-1"), Work("bbbbbbbbbbbb", 20, "id-rpi-2"),
                             Work("aaaaaaaaaaa2", 20, "id-rpi-1"), Work("aaaaaaaaaaa1", 10, "")})
            .ok());
  auto ids = [](const std::vector<WorkloadRecord>& ws) {
    std::vector<std::string> out;
    for (const auto& w : ws) out.push_back(w.id);
    return out;
  };
  auto all = store->ListWorkloads();
  REQUIRE(all.ok());
  CHECK(ids(*all) == std::vector<std::string>{"aaaaaaaaaaa1", "aaaaaaaaaaa2", "bbbbbbbbbbbb",
                                              "cccccccccccc"});
  auto on_rpi1 = store->ListWorkloads("id-rpi-1");
  REQUIRE(on_rpi1.ok());
  CHECK(ids(*on_rpi1) == std::vector<std::string>{"aaaaaaaaaaa2", "cccccccccccc"});
  auto on_rpi2 = store->ListWorkloads("id-rpi-2");
  REQUIRE(on_rpi2.ok());
  CHECK(ids(*on_rpi2) == std::vector<std::string>{"bbbbbbbbbbbb"});
  auto on_none = store->ListWorkloads("id-rpi-9");
  REQUIRE(on_none.ok());
  CHECK(on_none->empty());
}

TEST_CASE("state store: deleting a workload, and NotFound", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  CHECK(store->GetWorkload("aaaaaaaaaaaa").status().code() == mesh::StatusCode::kNotFound);
  CHECK(store->DeleteWorkload("aaaaaaaaaaaa").code() == mesh::StatusCode::kNotFound);
  CHECK(store->PutWorkloads({Work("aaaaaaaaaaaa", 1, "n"), Work("bbbbbbbbbbbb", 2, "n")}).ok());
  CHECK(store->DeleteWorkload("aaaaaaaaaaaa").ok());
  CHECK(store->GetWorkload("aaaaaaaaaaaa").status().code() == mesh::StatusCode::kNotFound);
  CHECK(store->DeleteWorkload("aaaaaaaaaaaa").code() == mesh::StatusCode::kNotFound);
  auto rest = *store->ListWorkloads();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].id == "bbbbbbbbbbbb");
  CHECK(store->PutWorkloads({}).ok());
}

TEST_CASE("state store: a batch of workloads is stored all or none", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  const WorkloadRecord kept = Work("000000000000", 1, "n");
  CHECK(store->PutWorkload(kept).ok());

  SECTION("a later record without an id") {
    WorkloadRecord bad = Work("", 3, "n");
    auto st = store->PutWorkloads({Work("aaaaaaaaaaaa", 2, "n"), bad, Work("bbbbbbbbbbbb", 4, "n")});
    CHECK(st.code() == mesh::StatusCode::kInvalidArgument);
    CHECK(store->PutWorkload(bad).code() == mesh::StatusCode::kInvalidArgument);
  }
  SECTION("a later record whose command is not UTF-8 (JSON cannot encode it)") {
    WorkloadRecord bad = Work("cccccccccccc", 3, "n");
    bad.command = {"echo", std::string("\xff\xfe")};
    auto st = store->PutWorkloads({Work("aaaaaaaaaaaa", 2, "n"), bad, Work("bbbbbbbbbbbb", 4, "n")});
    CHECK(st.code() == mesh::StatusCode::kInvalidArgument);
    CHECK_THAT(st.message(), Catch::Contains("command"));
  }
  // Nothing of the failed batch, the earlier record untouched, the store still usable.
  auto all = store->ListWorkloads();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 1);
  CHECK((*all)[0] == kept);
  CHECK(store->GetWorkload("aaaaaaaaaaaa").status().code() == mesh::StatusCode::kNotFound);
  CHECK(store->PutWorkloads({Work("dddddddddddd", 5, "n")}).ok());
  CHECK(store->ListWorkloads()->size() == 2);
}

TEST_CASE("state store: a workload batch survives kill -9 whole or not at all",
          "[gpu_node][state]") {
  TempDir dir;
  constexpr int kBatch = 100;
  int ack[2];
  REQUIRE(pipe(ack) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The writer: acknowledges each stored batch, then keeps writing batches until killed.
    auto store = *state::OpenSqliteStore(dir.db());
    for (int b = 0;; ++b) {
      std::vector<WorkloadRecord> batch;
      for (int r = 0; r < kBatch; ++r) {
        char id[32];
        std::snprintf(id, sizeof id, "%06x%06x", b, r);
        batch.push_back(Work(id, b, "node-" + std::to_string(b)));
      }
      if (!store->PutWorkloads(batch).ok()) _exit(1);
      if (write(ack[1], &b, sizeof b) != sizeof b) _exit(1);
    }
  }
  close(ack[1]);
  int last = -1, b = 0;
  while (last < 2 && read(ack[0], &b, sizeof b) == sizeof b) last = b;
  kill(child, SIGKILL);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  CHECK(WIFSIGNALED(wstatus));  // killed mid-writing, not failed
  while (read(ack[0], &b, sizeof b) == sizeof b) last = b;  // acks written before the kill
  close(ack[0]);

  auto store = state::OpenSqliteStore(dir.db());
  REQUIRE(store.ok());
  auto all = (*store)->ListWorkloads();
  REQUIRE(all.ok());
  INFO("last acknowledged batch: " << last << ", workloads found: " << all->size());
  CHECK(all->size() % kBatch == 0);  // never part of a batch
  CHECK(static_cast<int>(all->size()) >= (last + 1) * kBatch);
  for (int n = 0; n <= last; ++n) {
    auto batch = (*store)->ListWorkloads("node-" + std::to_string(n));
    REQUIRE(batch.ok());
    CHECK(batch->size() == kBatch);
  }
}

TEST_CASE("state store: a workload column that is not JSON reads as Corrupt", "[gpu_node][state]") {
  TempDir dir;
  {
    auto store = *state::OpenSqliteStore(dir.db());
    CHECK(store->PutWorkload(Work("aaaaaaaaaaaa", 1, "n")).ok());
  }
  const char* column = "command";
  std::string value = "'[\"sh\", '";  // cut short
  SECTION("command") {}
  SECTION("constraints, not strings") {
    column = "constraints";
    value = "'[1, 2]'";
  }
  SECTION("constraints, not a list") {
    column = "constraints";
    value = "'{\"a\": \"b\"}'";
  }
  SECTION("phase") {
    column = "phase";
    value = "'Sleeping'";
  }
  RawSql(dir.db(), std::string("UPDATE workloads SET ") + column + " = " + value);
  auto store = *state::OpenSqliteStore(dir.db());
  auto got = store->GetWorkload("aaaaaaaaaaaa");
  CHECK(got.status().code() == mesh::StatusCode::kCorrupt);
  CHECK_THAT(got.status().message(), Catch::Contains("aaaaaaaaaaaa"));
  CHECK(store->ListWorkloads().status().code() == mesh::StatusCode::kCorrupt);
  CHECK(store->ListWorkloads("n").status().code() == mesh::StatusCode::kCorrupt);
  // The store stays usable: the bad record can be replaced or deleted.
  CHECK(store->PutWorkload(Work("aaaaaaaaaaaa", 1, "n")).ok());
  CHECK(store->GetWorkload("aaaaaaaaaaaa").ok());
}

TEST_CASE("state store: a version 1 database is upgraded and keeps its data",
          "[gpu_node][state]") {
  TempDir dir;
  // The schema as version 1 wrote it, with one node.
  RawSql(dir.db(), R"sql(
CREATE TABLE nodes (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, type TEXT NOT NULL,
  arch TEXT NOT NULL, model TEXT NOT NULL, cores INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
  gpu INTEGER NOT NULL, labels TEXT NOT NULL, endpoint TEXT NOT NULL, curve_key TEXT NOT NULL,
  signing_key TEXT NOT NULL, joined_ns INTEGER NOT NULL, join_ms REAL NOT NULL,
  cert_not_after_ns INTEGER NOT NULL, status TEXT NOT NULL, status_since_ns INTEGER NOT NULL);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
  created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL, revoked INTEGER NOT NULL,
  uses INTEGER NOT NULL);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL,
  subject TEXT NOT NULL, detail TEXT NOT NULL);
INSERT INTO nodes VALUES ('id-rpi-1', 'rpi-1', 'worker', 'rpi', 'aarch64', 'Pi 4', 4, 3793, 0,
  '{"zone":"shelf-1"}', 'tcp://10.0.0.11:7946', 'cc', 'ee', 10, 41.5, 20, 'Ready', 0);
PRAGMA user_version = 1;
)sql");
  {
    auto store = state::OpenSqliteStore(dir.db());
    REQUIRE(store.ok());
    auto node = (*store)->GetNode("id-rpi-1");
    REQUIRE(node.ok());
    CHECK(node->labels.at("zone") == "shelf-1");
    // Health columns (version 3) get their defaults: memory limits assumed
    // to work, nothing reported yet.
    CHECK(node->health == state::NodeHealth{});
    CHECK((*store)->ListWorkloads()->empty());
    CHECK((*store)->PutWorkload(Work("aaaaaaaaaaaa", 1, "id-rpi-1")).ok());
  }
  CHECK(UserVersion(dir.db()) == 5);
  auto store = *state::OpenSqliteStore(dir.db());
  CHECK(store->GetNode("id-rpi-1").ok());
  auto w = store->GetWorkload("aaaaaaaaaaaa");
  REQUIRE(w.ok());
  CHECK(*w == Work("aaaaaaaaaaaa", 1, "id-rpi-1"));
}

TEST_CASE("state store: a database from a newer build is refused", "[gpu_node][state]") {
  TempDir dir;
  { CHECK(state::OpenSqliteStore(dir.db()).ok()); }
  RawSql(dir.db(), "PRAGMA user_version = 99");
  auto store = state::OpenSqliteStore(dir.db());
  CHECK(store.status().code() == mesh::StatusCode::kUnsupported);
}

TEST_CASE("state store: a version 2 database gets the node health columns with defaults",
          "[gpu_node][state]") {
  TempDir dir;
  // A version 2 file as it lies on disk: the v1 tables plus workloads, one node.
  RawSql(dir.db(), R"sql(
CREATE TABLE nodes (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, type TEXT NOT NULL,
  arch TEXT NOT NULL, model TEXT NOT NULL, cores INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
  gpu INTEGER NOT NULL, labels TEXT NOT NULL, endpoint TEXT NOT NULL, curve_key TEXT NOT NULL,
  signing_key TEXT NOT NULL, joined_ns INTEGER NOT NULL, join_ms REAL NOT NULL,
  cert_not_after_ns INTEGER NOT NULL, status TEXT NOT NULL, status_since_ns INTEGER NOT NULL);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
  created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL, revoked INTEGER NOT NULL,
  uses INTEGER NOT NULL);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL,
  subject TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE workloads (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, workload_group TEXT NOT NULL,
  replica INTEGER NOT NULL, image TEXT NOT NULL, command TEXT NOT NULL,
  cpu_millis INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, gpus INTEGER NOT NULL,
  constraints TEXT NOT NULL, restart TEXT NOT NULL, desired_running INTEGER NOT NULL,
  node_id TEXT NOT NULL, phase TEXT NOT NULL, detail TEXT NOT NULL, exit_code INTEGER NOT NULL,
  signal INTEGER NOT NULL, oom_killed INTEGER NOT NULL, restarts INTEGER NOT NULL,
  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, started_ns INTEGER NOT NULL,
  cpu_percent REAL NOT NULL, memory_usage_bytes INTEGER NOT NULL);
INSERT INTO nodes VALUES ('id-rpi-1', 'rpi-1', 'worker', 'rpi', 'aarch64', 'Pi 4', 4, 3793, 0,
  '{}', 'tcp://10.0.0.11:7946', 'cc', 'ee', 10, 41.5, 20, 'Ready', 0);
PRAGMA user_version = 2;
)sql");
  {
    auto store = state::OpenSqliteStore(dir.db());
    REQUIRE(store.ok());
    auto node = (*store)->GetNode("id-rpi-1");
    REQUIRE(node.ok());
    CHECK(node->health.memory_controller);
    CHECK_FALSE(node->health.temperature_mc);
    CHECK_FALSE(node->health.throttled);
    CHECK(node->health.updated_ns == 0);
    state::NodeHealth h;
    h.memory_controller = false;
    h.temperature_mc = 82'000;
    h.throttled = 0x50005;
    h.clock_skew_ns = -11'520'000'000'000;
    h.updated_ns = 77;
    CHECK((*store)->SetNodeHealth("id-rpi-1", h).ok());
    CHECK((*store)->SetNodeHealth("nope", h).code() == mesh::StatusCode::kNotFound);
  }
  CHECK(UserVersion(dir.db()) == 5);
  // Reopening a version 5 file migrates nothing twice (ALTER would fail).
  auto store = state::OpenSqliteStore(dir.db());
  REQUIRE(store.ok());
  auto node = (*store)->GetNode("id-rpi-1");
  REQUIRE(node.ok());
  CHECK_FALSE(node->health.memory_controller);
  CHECK(node->health.temperature_mc == 82'000);
  CHECK(node->health.throttled == 0x50005u);
  CHECK(node->health.clock_skew_ns == -11'520'000'000'000);
  CHECK(node->health.updated_ns == 77);
  CHECK(node->name == "rpi-1");
}

TEST_CASE("state store: node health round trips through PutNode", "[gpu_node][state]") {
  TempDir dir;
  auto store = *state::OpenSqliteStore(dir.db());
  NodeRecord n = Pi("rpi-3", 5);
  n.health.memory_controller = false;
  n.health.throttled = 0;  // known and clear, unlike absent
  n.health.clock_skew_ns = 3'200'000;
  CHECK(store->PutNode(n).ok());
  CHECK(*store->GetNode("id-rpi-3") == n);
}

TEST_CASE("state store: a version 3 database gets the revoked nodes table, revoking removes the node",
          "[gpu_node][state]") {
  TempDir dir;
  {
    auto store = state::OpenSqliteStore(dir.db());
    REQUIRE(store.ok());
    REQUIRE((*store)->PutNode(Pi("rpi-1", 10)).ok());
    NodeRecord other = Pi("rpi-2", 20);
    other.signing_key_hex = std::string(64, 'a');
    other.curve_key_hex = std::string(64, 'b');
    REQUIRE((*store)->PutNode(other).ok());
  }
  // As a version 3 build left it: no revoked_nodes table, and no version 5
  // columns (SQLite 3.35+ drops columns).
  RawSql(dir.db(),
         "DROP TABLE revoked_nodes; ALTER TABLE workloads DROP COLUMN run_user;"
         "ALTER TABLE workloads DROP COLUMN privileged; PRAGMA user_version = 3;");
  {
    auto store = state::OpenSqliteStore(dir.db());
    REQUIRE(store.ok());
    CHECK(UserVersion(dir.db()) == 5);
    auto none = (*store)->ListRevokedNodes();
    REQUIRE(none.ok());
    CHECK(none->empty());
    const NodeRecord n = *(*store)->GetNode("id-rpi-1");
    const state::RevokedNodeRecord r{n.id, n.name, n.signing_key_hex, n.curve_key_hex, 99, "removed with node rm"};
    REQUIRE((*store)->RevokeNode(r).ok());
    CHECK((*store)->GetNode("id-rpi-1").status().code() == mesh::StatusCode::kNotFound);
    // Nothing changes for a node that is not there.
    CHECK((*store)->RevokeNode({"id-nope", "nope", "aa", "bb", 100, ""}).code() == mesh::StatusCode::kNotFound);
  }
  auto store = state::OpenSqliteStore(dir.db());
  REQUIRE(store.ok());
  auto revoked = (*store)->ListRevokedNodes();
  REQUIRE(revoked.ok());
  REQUIRE(revoked->size() == 1);
  CHECK((*revoked)[0].name == "rpi-1");
  CHECK((*revoked)[0].revoked_ns == 99);
  CHECK((*revoked)[0].reason == "removed with node rm");
  const NodeRecord other = *(*store)->GetNode("id-rpi-2");
  for (const std::string& key : {(*revoked)[0].signing_key_hex, (*revoked)[0].curve_key_hex}) {
    auto found = (*store)->FindRevokedKey(key);
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    CHECK((*found)->node_id == "id-rpi-1");
  }
  auto not_revoked = (*store)->FindRevokedKey(other.signing_key_hex);
  REQUIRE(not_revoked.ok());
  CHECK_FALSE(not_revoked->has_value());
  CHECK((*store)->ListNodes()->size() == 1);
}
