#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <mutex>
#include <utility>
#include <nlohmann/json.hpp>

#include "state/store.h"

namespace state {
namespace {

// 1: nodes, tokens, events. 2: workloads. 3: node health columns. 4: revoked
// nodes (`node rm`). Each
// version only adds tables and indexes (IF NOT EXISTS) or columns with
// defaults (kMigrations), so opening an older file upgrades it in place.
constexpr int kSchemaVersion = 5;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS nodes (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, type TEXT NOT NULL,
  arch TEXT NOT NULL, model TEXT NOT NULL, cores INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
  gpu INTEGER NOT NULL, labels TEXT NOT NULL, endpoint TEXT NOT NULL, curve_key TEXT NOT NULL,
  signing_key TEXT NOT NULL, joined_ns INTEGER NOT NULL, join_ms REAL NOT NULL,
  cert_not_after_ns INTEGER NOT NULL, status TEXT NOT NULL, status_since_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
  created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL, revoked INTEGER NOT NULL,
  uses INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL,
  subject TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, workload_group TEXT NOT NULL,
  replica INTEGER NOT NULL, image TEXT NOT NULL, command TEXT NOT NULL,
  cpu_millis INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, gpus INTEGER NOT NULL,
  constraints TEXT NOT NULL, restart TEXT NOT NULL, desired_running INTEGER NOT NULL,
  node_id TEXT NOT NULL, phase TEXT NOT NULL, detail TEXT NOT NULL, exit_code INTEGER NOT NULL,
  signal INTEGER NOT NULL, oom_killed INTEGER NOT NULL, restarts INTEGER NOT NULL,
  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, started_ns INTEGER NOT NULL,
  cpu_percent REAL NOT NULL, memory_usage_bytes INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS workloads_by_node ON workloads (node_id, created_ns, id);
CREATE TABLE IF NOT EXISTS revoked_nodes (
  node_id TEXT PRIMARY KEY, name TEXT NOT NULL, signing_key TEXT NOT NULL UNIQUE,
  curve_key TEXT NOT NULL UNIQUE, revoked_ns INTEGER NOT NULL, reason TEXT NOT NULL);
)sql";

// Columns added to existing tables, by the version that added them; applied
// (after kSchema) to every file older than that version, a new one included.
struct Migration {
  int version;
  const char* sql;
};
constexpr Migration kMigrations[] = {
    {3, "ALTER TABLE nodes ADD COLUMN memory_controller INTEGER NOT NULL DEFAULT 1;"
        "ALTER TABLE nodes ADD COLUMN temperature_mc INTEGER;"
        "ALTER TABLE nodes ADD COLUMN throttled INTEGER;"
        "ALTER TABLE nodes ADD COLUMN clock_skew_ns INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE nodes ADD COLUMN health_ns INTEGER NOT NULL DEFAULT 0;"},
    // Version 4 (issue 17's revoked_nodes) is a new table: kSchema makes it.
    // Version 5, issue 17's contained workloads: --user and --privileged.
    {5, "ALTER TABLE workloads ADD COLUMN run_user TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE workloads ADD COLUMN privileged INTEGER NOT NULL DEFAULT 0;"},
};

// The SQLite error translation point.
mesh::Status SqlError(sqlite3* db, std::string_view op) {
  const int code = sqlite3_extended_errcode(db);
  const std::string msg = sqlite3_errmsg(db);
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT: return mesh::Status::AlreadyExists(op, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return mesh::Status::Corrupt(op, msg);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN: return mesh::Status::PermissionDenied(op, msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return mesh::Status::Unavailable(op, msg);
    default: return mesh::Status::IoError(op, msg);
  }
}

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  // Ready to bind and step again.
  Stmt& Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  template <typename T>
  Stmt& Bind(int i, const std::optional<T>& v) {
    if (v) return Bind(i, static_cast<std::int64_t>(*v));
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p != nullptr ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::optional<std::int64_t> OptInt(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return Int(col);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kNodeColumns =
    "id, name, role, type, arch, model, cores, memory_mb, gpu, labels, endpoint, curve_key, "
    "signing_key, joined_ns, join_ms, cert_not_after_ns, status, status_since_ns, "
    "memory_controller, temperature_mc, throttled, clock_skew_ns, health_ns";

NodeRecord ReadNode(const Stmt& s) {
  NodeRecord n;
  n.id = s.Text(0);
  n.name = s.Text(1);
  n.role = s.Text(2);
  n.type = s.Text(3);
  n.arch = s.Text(4);
  n.model = s.Text(5);
  n.cores = static_cast<int>(s.Int(6));
  n.memory_mb = s.Int(7);
  n.gpu = s.Int(8) != 0;
  auto labels = nlohmann::json::parse(s.Text(9), nullptr, false);
  if (labels.is_object()) {
    for (auto& [k, v] : labels.items()) {
      if (v.is_string()) n.labels[k] = v.get<std::string>();
    }
  }
  n.endpoint = s.Text(10);
  n.curve_key_hex = s.Text(11);
  n.signing_key_hex = s.Text(12);
  n.joined_ns = s.Int(13);
  n.join_ms = s.Real(14);
  n.cert_not_after_ns = s.Int(15);
  const std::string status = s.Text(16);
  n.status = status == "Down"         ? NodeStatus::kDown
             : status == "Restarting"  ? NodeStatus::kRestarting
             : status == "Unreachable" ? NodeStatus::kUnreachable
                                       : NodeStatus::kReady;
  n.status_since_ns = s.Int(17);
  n.health.memory_controller = s.Int(18) != 0;
  n.health.temperature_mc = s.OptInt(19);
  if (auto bits = s.OptInt(20)) n.health.throttled = static_cast<std::uint32_t>(*bits);
  n.health.clock_skew_ns = s.Int(21);
  n.health.updated_ns = s.Int(22);
  return n;
}

TokenRecord ReadToken(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5) != 0,
          static_cast<int>(s.Int(6))};
}

RevokedNodeRecord ReadRevoked(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Text(5)};
}

// BEGIN IMMEDIATE ... COMMIT; rolls back on scope exit unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    // SQLite may have rolled back by itself already (SQLITE_FULL, IOERR, ...).
    if (begun_ && sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  bool Begin() {
    begun_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
    return begun_;
  }
  bool Commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return false;
    begun_ = false;
    return true;
  }

 private:
  sqlite3* db_;
  bool begun_ = false;
};

constexpr const char* kWorkloadColumns =
    "id, name, workload_group, replica, image, command, cpu_millis, memory_bytes, gpus, "
    "constraints, restart, desired_running, node_id, phase, detail, exit_code, signal, "
    "oom_killed, restarts, created_ns, updated_ns, started_ns, cpu_percent, memory_usage_bytes, "
    "run_user, privileged";

// A string list as JSON text. InvalidArgument (nlohmann refuses to encode
// invalid UTF-8) rather than an exception.
mesh::Result<std::string> EncodeList(const std::vector<std::string>& list, std::string_view what,
                                     const std::string& id) {
  try {
    return nlohmann::json(list).dump();
  } catch (const nlohmann::json::exception& e) {
    return mesh::Status::InvalidArgument("store workload " + id,
                                         std::string(what) + ": " + e.what());
  }
}

// The inverse of EncodeList; Corrupt unless the text is a JSON list of strings.
mesh::Result<std::vector<std::string>> DecodeList(const std::string& text, std::string_view what,
                                                  const std::string& id) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  bool ok = json.is_array();
  if (ok) {
    for (const auto& item : json) {
      if (!item.is_string()) {
        ok = false;
        break;
      }
      out.push_back(item.get<std::string>());
    }
  }
  if (!ok) {
    return mesh::Status::Corrupt("read workload " + id,
                                 "column " + std::string(what) + " is not a JSON list of strings");
  }
  return out;
}

mesh::Result<WorkloadRecord> ReadWorkload(const Stmt& s) {
  WorkloadRecord w;
  w.id = s.Text(0);
  w.name = s.Text(1);
  w.group = s.Text(2);
  w.replica = static_cast<int>(s.Int(3));
  w.image = s.Text(4);
  auto command = DecodeList(s.Text(5), "command", w.id);
  if (!command.ok()) return command.status();
  w.command = std::move(*command);
  w.cpu_millis = s.Int(6);
  w.memory_bytes = s.Int(7);
  w.gpus = static_cast<int>(s.Int(8));
  auto constraints = DecodeList(s.Text(9), "constraints", w.id);
  if (!constraints.ok()) return constraints.status();
  w.constraints = std::move(*constraints);
  w.restart = s.Text(10);
  w.desired_running = s.Int(11) != 0;
  w.node_id = s.Text(12);
  const std::string phase_name = s.Text(13);
  const auto phase = ParseWorkloadPhase(phase_name);
  if (!phase) {
    return mesh::Status::Corrupt("read workload " + w.id, "unknown phase \"" + phase_name + "\"");
  }
  w.phase = *phase;
  w.detail = s.Text(14);
  w.exit_code = static_cast<int>(s.Int(15));
  w.signal = static_cast<int>(s.Int(16));
  w.oom_killed = s.Int(17) != 0;
  w.restarts = static_cast<int>(s.Int(18));
  w.created_ns = s.Int(19);
  w.updated_ns = s.Int(20);
  w.started_ns = s.Int(21);
  w.cpu_percent = s.Real(22);
  w.memory_usage_bytes = s.Int(23);
  w.user = s.Text(24);
  w.privileged = s.Int(25) != 0;
  return w;
}

class SqliteStore final : public StateStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  mesh::Status Init() {
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                               "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"}) {
      if (sqlite3_exec(db_, pragma, nullptr, nullptr, nullptr) != SQLITE_OK) {
        return SqlError(db_, "open state store");
      }
    }
    // Version check, schema and version bump in one transaction: a crash or a
    // second `serve` opening the file at the same time sees all or nothing.
    Transaction txn(db_);
    if (!txn.Begin()) return SqlError(db_, "open state store");
    std::int64_t found = 0;
    {
      Stmt version(db_, "PRAGMA user_version");
      if (!version.ok() || version.Step() != SQLITE_ROW) return SqlError(db_, "open state store");
      found = version.Int(0);
    }
    if (found > kSchemaVersion) {
      return mesh::Status::Unsupported("open state store",
                                       "schema version " + std::to_string(found) +
                                           " is newer than this build's " +
                                           std::to_string(kSchemaVersion));
    }
    if (sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return SqlError(db_, "create state schema");
    }
    for (const Migration& m : kMigrations) {
      if (found < m.version && sqlite3_exec(db_, m.sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
        return SqlError(db_, "upgrade state schema to version " + std::to_string(m.version));
      }
    }
    if (found != kSchemaVersion) {
      const std::string set = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
      if (sqlite3_exec(db_, set.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        return SqlError(db_, "create state schema");
      }
    }
    if (!txn.Commit()) return SqlError(db_, "create state schema");
    return mesh::Status::Ok();
  }

  mesh::Status PutNode(const NodeRecord& n) override {
    std::lock_guard lock(mu_);
    nlohmann::json labels = n.labels;
    Stmt s(db_, (std::string("INSERT OR REPLACE INTO nodes (") + kNodeColumns +
                 ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
                    .c_str());
    if (!s.ok()) return SqlError(db_, "store node");
    s.Bind(1, n.id).Bind(2, n.name).Bind(3, n.role).Bind(4, n.type).Bind(5, n.arch);
    s.Bind(6, n.model).Bind(7, static_cast<std::int64_t>(n.cores)).Bind(8, n.memory_mb);
    s.Bind(9, static_cast<std::int64_t>(n.gpu)).Bind(10, labels.dump()).Bind(11, n.endpoint);
    s.Bind(12, n.curve_key_hex).Bind(13, n.signing_key_hex).Bind(14, n.joined_ns);
    s.Bind(15, n.join_ms).Bind(16, n.cert_not_after_ns);
    s.Bind(17, std::string(NodeStatusName(n.status))).Bind(18, n.status_since_ns);
    s.Bind(19, static_cast<std::int64_t>(n.health.memory_controller)).Bind(20, n.health.temperature_mc);
    s.Bind(21, n.health.throttled).Bind(22, n.health.clock_skew_ns).Bind(23, n.health.updated_ns);
    return s.Step() == SQLITE_DONE ? mesh::Status::Ok() : SqlError(db_, "store node " + n.name);
  }

  mesh::Result<NodeRecord> GetNode(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE id = ?").c_str());
    if (!s.ok()) return SqlError(db_, "read node");
    s.Bind(1, id);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return ReadNode(s);
    if (rc == SQLITE_DONE) return mesh::Status::NotFound("read node", "no node with id " + id);
    return SqlError(db_, "read node");
  }

  mesh::Result<std::optional<NodeRecord>> FindNodeByName(const std::string& name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE name = ?").c_str());
    if (!s.ok()) return SqlError(db_, "read node");
    s.Bind(1, name);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<NodeRecord>(ReadNode(s));
    if (rc == SQLITE_DONE) return std::optional<NodeRecord>();
    return SqlError(db_, "read node");
  }

  mesh::Result<std::vector<NodeRecord>> ListNodes() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY joined_ns, name")
                    .c_str());
    if (!s.ok()) return SqlError(db_, "list nodes");
    std::vector<NodeRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadNode(s));
    if (rc != SQLITE_DONE) return SqlError(db_, "list nodes");
    return out;
  }

  mesh::Status SetNodeStatus(const std::string& id, NodeStatus status,
                             std::int64_t since_ns) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE nodes SET status = ?, status_since_ns = ? WHERE id = ?");
    if (!s.ok()) return SqlError(db_, "set node status");
    s.Bind(1, std::string(NodeStatusName(status))).Bind(2, since_ns).Bind(3, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "set node status");
    if (sqlite3_changes(db_) == 0) return mesh::Status::NotFound("set node status", "no node " + id);
    return mesh::Status::Ok();
  }

  mesh::Status SetNodeHealth(const std::string& id, const NodeHealth& h) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE nodes SET memory_controller = ?, temperature_mc = ?, throttled = ?, "
                "clock_skew_ns = ?, health_ns = ? WHERE id = ?");
    if (!s.ok()) return SqlError(db_, "set node health");
    s.Bind(1, static_cast<std::int64_t>(h.memory_controller)).Bind(2, h.temperature_mc);
    s.Bind(3, h.throttled).Bind(4, h.clock_skew_ns).Bind(5, h.updated_ns).Bind(6, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "set node health");
    if (sqlite3_changes(db_) == 0) return mesh::Status::NotFound("set node health", "no node " + id);
    return mesh::Status::Ok();
  }

  mesh::Status RevokeNode(const RevokedNodeRecord& r) override {
    std::lock_guard lock(mu_);
    Transaction txn(db_);
    if (!txn.Begin()) return SqlError(db_, "revoke node");
    {
      Stmt del(db_, "DELETE FROM nodes WHERE id = ?");
      if (!del.ok()) return SqlError(db_, "revoke node");
      del.Bind(1, r.node_id);
      if (del.Step() != SQLITE_DONE) return SqlError(db_, "revoke node " + r.node_id);
      if (sqlite3_changes(db_) == 0) return mesh::Status::NotFound("revoke node", "no node with id " + r.node_id);
    }
    Stmt s(db_, "INSERT OR REPLACE INTO revoked_nodes (node_id, name, signing_key, curve_key, revoked_ns, reason) "
                "VALUES (?,?,?,?,?,?)");
    if (!s.ok()) return SqlError(db_, "revoke node");
    s.Bind(1, r.node_id).Bind(2, r.name).Bind(3, r.signing_key_hex).Bind(4, r.curve_key_hex);
    s.Bind(5, r.revoked_ns).Bind(6, r.reason);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "revoke node " + r.node_id);
    if (!txn.Commit()) return SqlError(db_, "revoke node " + r.node_id);
    return mesh::Status::Ok();
  }

  mesh::Result<std::vector<RevokedNodeRecord>> ListRevokedNodes() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT node_id, name, signing_key, curve_key, revoked_ns, reason FROM revoked_nodes "
                "ORDER BY revoked_ns, node_id");
    if (!s.ok()) return SqlError(db_, "list revoked nodes");
    std::vector<RevokedNodeRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadRevoked(s));
    if (rc != SQLITE_DONE) return SqlError(db_, "list revoked nodes");
    return out;
  }

  mesh::Result<std::optional<RevokedNodeRecord>> FindRevokedKey(const std::string& key_hex) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT node_id, name, signing_key, curve_key, revoked_ns, reason FROM revoked_nodes "
                "WHERE signing_key = ?1 OR curve_key = ?1");
    if (!s.ok()) return SqlError(db_, "read revoked nodes");
    s.Bind(1, key_hex);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<RevokedNodeRecord>(ReadRevoked(s));
    if (rc == SQLITE_DONE) return std::optional<RevokedNodeRecord>();
    return SqlError(db_, "read revoked nodes");
  }

  mesh::Status PutToken(const TokenRecord& t) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO tokens (id, secret_hash, role, created_ns, expires_ns, revoked, uses) "
                "VALUES (?,?,?,?,?,?,?)");
    if (!s.ok()) return SqlError(db_, "store token");
    s.Bind(1, t.id).Bind(2, t.secret_hash).Bind(3, t.role).Bind(4, t.created_ns);
    s.Bind(5, t.expires_ns).Bind(6, static_cast<std::int64_t>(t.revoked));
    s.Bind(7, static_cast<std::int64_t>(t.uses));
    return s.Step() == SQLITE_DONE ? mesh::Status::Ok() : SqlError(db_, "store token " + t.id);
  }

  mesh::Result<std::optional<TokenRecord>> FindTokenByHash(const std::string& hash) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT id, secret_hash, role, created_ns, expires_ns, revoked, uses FROM tokens "
                "WHERE secret_hash = ?");
    if (!s.ok()) return SqlError(db_, "read token");
    s.Bind(1, hash);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<TokenRecord>(ReadToken(s));
    if (rc == SQLITE_DONE) return std::optional<TokenRecord>();
    return SqlError(db_, "read token");
  }

  mesh::Result<std::vector<TokenRecord>> ListTokens() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT id, secret_hash, role, created_ns, expires_ns, revoked, uses FROM tokens "
                "ORDER BY created_ns, id");
    if (!s.ok()) return SqlError(db_, "list tokens");
    std::vector<TokenRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadToken(s));
    if (rc != SQLITE_DONE) return SqlError(db_, "list tokens");
    return out;
  }

  mesh::Status RevokeToken(const std::string& id) override { return UpdateToken(id, "revoked = 1"); }
  mesh::Status CountTokenUse(const std::string& id) override {
    return UpdateToken(id, "uses = uses + 1");
  }

  mesh::Status PutWorkload(const WorkloadRecord& w) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, kInsertWorkload);
    if (!s.ok()) return SqlError(db_, "store workload");
    return InsertWorkload(s, w);
  }

  mesh::Status PutWorkloads(const std::vector<WorkloadRecord>& workloads) override {
    std::lock_guard lock(mu_);
    if (workloads.empty()) return mesh::Status::Ok();
    Transaction txn(db_);
    if (!txn.Begin()) return SqlError(db_, "store workloads");
    Stmt s(db_, kInsertWorkload);
    if (!s.ok()) return SqlError(db_, "store workloads");
    for (const auto& w : workloads) {
      if (auto st = InsertWorkload(s.Reset(), w); !st.ok()) return st;  // rolls back
    }
    if (!txn.Commit()) return SqlError(db_, "store workloads");
    return mesh::Status::Ok();
  }

  mesh::Result<WorkloadRecord> GetWorkload(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kWorkloadColumns + " FROM workloads WHERE id = ?")
                    .c_str());
    if (!s.ok()) return SqlError(db_, "read workload");
    s.Bind(1, id);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return ReadWorkload(s);
    if (rc == SQLITE_DONE) {
      return mesh::Status::NotFound("read workload", "no workload with id " + id);
    }
    return SqlError(db_, "read workload");
  }

  mesh::Result<std::vector<WorkloadRecord>> ListWorkloads(const std::string& node_id) override {
    std::lock_guard lock(mu_);
    const std::string where = node_id.empty() ? "" : " WHERE node_id = ?";
    Stmt s(db_, (std::string("SELECT ") + kWorkloadColumns + " FROM workloads" + where +
                 " ORDER BY created_ns, id")
                    .c_str());
    if (!s.ok()) return SqlError(db_, "list workloads");
    if (!node_id.empty()) s.Bind(1, node_id);
    std::vector<WorkloadRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      auto w = ReadWorkload(s);
      if (!w.ok()) return w.status();
      out.push_back(std::move(*w));
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "list workloads");
    return out;
  }

  mesh::Status DeleteNode(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM nodes WHERE id = ?");
    if (!s.ok()) return SqlError(db_, "delete node");
    s.Bind(1, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "delete node");
    if (sqlite3_changes(db_) == 0) return mesh::Status::NotFound("delete node", "no node with id " + id);
    return mesh::Status::Ok();
  }

  mesh::Status DeleteWorkload(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM workloads WHERE id = ?");
    if (!s.ok()) return SqlError(db_, "delete workload");
    s.Bind(1, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "delete workload");
    if (sqlite3_changes(db_) == 0) {
      return mesh::Status::NotFound("delete workload", "no workload with id " + id);
    }
    return mesh::Status::Ok();
  }

  mesh::Result<std::int64_t> AppendEvent(const EventRecord& e) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO events (ts_ns, kind, subject, detail) VALUES (?,?,?,?)");
    if (!s.ok()) return SqlError(db_, "append event");
    s.Bind(1, e.ts_ns).Bind(2, e.kind).Bind(3, e.subject).Bind(4, e.detail);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "append event");
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
  }

  mesh::Result<std::vector<EventRecord>> EventsSince(std::int64_t seq) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT seq, ts_ns, kind, subject, detail FROM events WHERE seq > ? ORDER BY seq");
    if (!s.ok()) return SqlError(db_, "read events");
    s.Bind(1, seq);
    std::vector<EventRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      out.push_back({s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4)});
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "read events");
    return out;
  }

 private:
  static constexpr const char* kInsertWorkload =
      "INSERT OR REPLACE INTO workloads (id, name, workload_group, replica, image, command, "
      "cpu_millis, memory_bytes, gpus, constraints, restart, desired_running, node_id, phase, "
      "detail, exit_code, signal, oom_killed, restarts, created_ns, updated_ns, started_ns, "
      "cpu_percent, memory_usage_bytes, run_user, privileged) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

  // Binds `w` to a fresh or reset kInsertWorkload statement and steps it.
  // Caller holds mu_.
  mesh::Status InsertWorkload(Stmt& s, const WorkloadRecord& w) {
    if (w.id.empty()) return mesh::Status::InvalidArgument("store workload", "empty workload id");
    auto command = EncodeList(w.command, "command", w.id);
    if (!command.ok()) return command.status();
    auto constraints = EncodeList(w.constraints, "constraints", w.id);
    if (!constraints.ok()) return constraints.status();
    s.Bind(1, w.id).Bind(2, w.name).Bind(3, w.group).Bind(4, static_cast<std::int64_t>(w.replica));
    s.Bind(5, w.image).Bind(6, *command).Bind(7, w.cpu_millis).Bind(8, w.memory_bytes);
    s.Bind(9, static_cast<std::int64_t>(w.gpus)).Bind(10, *constraints).Bind(11, w.restart);
    s.Bind(12, static_cast<std::int64_t>(w.desired_running)).Bind(13, w.node_id);
    s.Bind(14, std::string(WorkloadPhaseName(w.phase))).Bind(15, w.detail);
    s.Bind(16, static_cast<std::int64_t>(w.exit_code)).Bind(17, static_cast<std::int64_t>(w.signal));
    s.Bind(18, static_cast<std::int64_t>(w.oom_killed));
    s.Bind(19, static_cast<std::int64_t>(w.restarts)).Bind(20, w.created_ns);
    s.Bind(21, w.updated_ns).Bind(22, w.started_ns).Bind(23, w.cpu_percent);
    s.Bind(24, w.memory_usage_bytes).Bind(25, w.user).Bind(26, static_cast<std::int64_t>(w.privileged));
    return s.Step() == SQLITE_DONE ? mesh::Status::Ok() : SqlError(db_, "store workload " + w.id);
  }

  mesh::Status UpdateToken(const std::string& id, const char* assignment) {
    std::lock_guard lock(mu_);
    Stmt s(db_, (std::string("UPDATE tokens SET ") + assignment + " WHERE id = ?").c_str());
    if (!s.ok()) return SqlError(db_, "update token");
    s.Bind(1, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "update token");
    if (sqlite3_changes(db_) == 0) {
      return mesh::Status::NotFound("update token", "no join token with id " + id);
    }
    return mesh::Status::Ok();
  }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

std::string_view NodeStatusName(NodeStatus status) {
  switch (status) {
    case NodeStatus::kDown: return "Down";
    case NodeStatus::kRestarting: return "Restarting";
    case NodeStatus::kUnreachable: return "Unreachable";
    case NodeStatus::kReady: break;
  }
  return "Ready";
}

namespace {
constexpr std::pair<WorkloadPhase, std::string_view> kPhaseNames[] = {
    {WorkloadPhase::kPending, "Pending"}, {WorkloadPhase::kStarting, "Starting"},
    {WorkloadPhase::kRunning, "Running"}, {WorkloadPhase::kExited, "Exited"},
    {WorkloadPhase::kFailed, "Failed"},   {WorkloadPhase::kStopped, "Stopped"},
};
}  // namespace

std::string_view WorkloadPhaseName(WorkloadPhase phase) {
  for (const auto& [p, name] : kPhaseNames) {
    if (p == phase) return name;
  }
  return "Unknown";
}

std::optional<WorkloadPhase> ParseWorkloadPhase(std::string_view name) {
  for (const auto& [p, n] : kPhaseNames) {
    if (n == name) return p;
  }
  return std::nullopt;
}

mesh::Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path) {
  // Created 0600 before SQLite opens it: the store lists every node's keys.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return mesh::Status::FromErrno("open state store " + path, errno);
  ::close(fd);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    mesh::Status st = SqlError(db, "open state store " + path);
    sqlite3_close_v2(db);
    return st;
  }
  auto store = std::make_unique<SqliteStore>(db);
  if (auto st = store->Init(); !st.ok()) {
    return mesh::Status(st.code() == mesh::StatusCode::kCorrupt
                            ? mesh::Status::Corrupt(path, "not a StratoSwarm state database (" +
                                                               st.message() + ")")
                            : st);
  }
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace state
