#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "state/store.h"

namespace state {
namespace {

constexpr int kSchemaVersion = 1;

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
)sql";

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
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p != nullptr ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kNodeColumns =
    "id, name, role, type, arch, model, cores, memory_mb, gpu, labels, endpoint, curve_key, "
    "signing_key, joined_ns, join_ms, cert_not_after_ns, status, status_since_ns";

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
  n.status = s.Text(16) == "Down" ? NodeStatus::kDown : NodeStatus::kReady;
  n.status_since_ns = s.Int(17);
  return n;
}

TokenRecord ReadToken(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5) != 0,
          static_cast<int>(s.Int(6))};
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
    Stmt version(db_, "PRAGMA user_version");
    if (!version.ok() || version.Step() != SQLITE_ROW) return SqlError(db_, "open state store");
    const auto found = version.Int(0);
    if (found > kSchemaVersion) {
      return mesh::Status::Unsupported("open state store",
                                       "schema version " + std::to_string(found) +
                                           " is newer than this build's " +
                                           std::to_string(kSchemaVersion));
    }
    if (sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return SqlError(db_, "create state schema");
    }
    const std::string set = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
    if (sqlite3_exec(db_, set.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return SqlError(db_, "create state schema");
    }
    return mesh::Status::Ok();
  }

  mesh::Status PutNode(const NodeRecord& n) override {
    std::lock_guard lock(mu_);
    nlohmann::json labels = n.labels;
    Stmt s(db_, (std::string("INSERT OR REPLACE INTO nodes (") + kNodeColumns +
                 ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
                    .c_str());
    if (!s.ok()) return SqlError(db_, "store node");
    s.Bind(1, n.id).Bind(2, n.name).Bind(3, n.role).Bind(4, n.type).Bind(5, n.arch);
    s.Bind(6, n.model).Bind(7, static_cast<std::int64_t>(n.cores)).Bind(8, n.memory_mb);
    s.Bind(9, static_cast<std::int64_t>(n.gpu)).Bind(10, labels.dump()).Bind(11, n.endpoint);
    s.Bind(12, n.curve_key_hex).Bind(13, n.signing_key_hex).Bind(14, n.joined_ns);
    s.Bind(15, n.join_ms).Bind(16, n.cert_not_after_ns);
    s.Bind(17, std::string(NodeStatusName(n.status))).Bind(18, n.status_since_ns);
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
  return status == NodeStatus::kDown ? "Down" : "Ready";
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
