#include "swarmlet/workload_protocol.h"

#include <catch2/catch.hpp>
#include <limits>
#include <random>

using namespace swarmlet;

namespace {

WorkloadCommand FullCommand() {
  WorkloadCommand c;
  c.request_id = 0x1234'5678'9abc'def0ull;
  c.op = WorkloadOp::kStart;
  c.workload_id = "0123456789ab";
  c.spec.name = "web";
  c.spec.image = "busybox";
  c.spec.argv = {"/bin/sh", "-c", "echo hello; exit 3"};
  c.spec.env = {"A=1", "B=two words"};
  c.spec.cpu_millis = 500;
  c.spec.memory_bytes = 128ll << 20;
  c.spec.pids_max = 64;
  c.spec.gpu = true;
  c.spec.restart = "on-failure:5";
  c.spec.image_digest = "sha256:" + std::string(64, 'a');
  c.spec.image_bytes = 7'400'000;
  c.spec.cwd = "/home/app";
  c.spec.uid = 1000;
  c.spec.gid = 1000;
  c.spec.groups = {2000, 65534};
  c.spec.stop_signal = 2;
  c.log_bytes = 4096;
  return c;
}

WorkloadReport FullReportOf(std::string id, WorkloadRunState state) {
  WorkloadReport r;
  r.workload_id = std::move(id);
  r.state = state;
  r.pid = 4242;
  r.exit_code = 3;
  r.signal = 9;
  r.oom_killed = true;
  r.restarts = 2;
  r.started_ns = 1'700'000'000'123'456'789;
  r.cpu_percent = 12.5;
  r.memory_bytes = 5'000'000;
  r.error = "exec /bin/x: No such file or directory";
  r.pulled_bytes = 3'100'000;
  r.image_bytes = 7'400'000;
  return r;
}

WorkloadStatusMsg FullStatus() {
  WorkloadStatusMsg s;
  s.request_id = 77;
  s.full = true;
  s.error = "partly failed";
  s.workloads = {FullReportOf("0123456789ab", WorkloadRunState::kExited),
                 FullReportOf("ba9876543210", WorkloadRunState::kStopped)};
  s.logs = std::string("hello\n\0\xff binary", 16);
  s.images = {"sha256:" + std::string(64, 'b')};
  return s;
}

// Flips, overwrites, inserts, deletes and truncates; every fifth buffer is noise.
std::string Mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng, int i) {
  static constexpr unsigned char kInteresting[] = {
      0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xa0, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xca,
      0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
  if (i % 5 == 0) {
    std::string b(rng() % 300, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    return b;
  }
  std::string b = seeds[rng() % seeds.size()];
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < n && !b.empty(); ++k) {
    const std::size_t pos = rng() % b.size();
    switch (rng() % 6) {
      case 0:
        b[pos] = static_cast<char>(b[pos] ^ (1u << (rng() % 8)));
        break;
      case 1:
        b[pos] = static_cast<char>(rng());
        break;
      case 2:
        b[pos] = static_cast<char>(kInteresting[rng() % sizeof kInteresting]);
        break;
      case 3:
        b.insert(pos, 1, static_cast<char>(kInteresting[rng() % sizeof kInteresting]));
        break;
      case 4:
        b.erase(pos, 1 + rng() % 8);
        break;
      default:
        b.resize(pos);
        break;
    }
  }
  return b;
}

}  // namespace

TEST_CASE("workload protocol: a command round-trips every field", "[swarmlet][workload]") {
  const WorkloadCommand c = FullCommand();
  auto bytes = EncodeWorkloadCommand(c);
  REQUIRE(bytes.ok());
  auto back = DecodeWorkloadCommand(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == c);
  CHECK(back->spec.argv[2] == "echo hello; exit 3");
  CHECK(back->spec.gpu);

  // Every op, and the extremes of the numbers.
  for (WorkloadOp op : {WorkloadOp::kStart, WorkloadOp::kStop, WorkloadOp::kRemove,
                        WorkloadOp::kLogs, WorkloadOp::kReport}) {
    WorkloadCommand x;
    x.request_id = std::numeric_limits<std::uint64_t>::max();
    x.op = op;
    x.spec.cpu_millis = std::numeric_limits<std::int64_t>::min();
    x.spec.memory_bytes = -1;
    x.spec.pids_max = std::numeric_limits<std::int64_t>::max();
    x.log_bytes = std::numeric_limits<std::uint32_t>::max();
    auto b = EncodeWorkloadCommand(x);
    REQUIRE(b.ok());
    auto d = DecodeWorkloadCommand(*b);
    REQUIRE(d.ok());
    CHECK(*d == x);
  }
}

TEST_CASE("workload protocol: a status round-trips every field", "[swarmlet][workload]") {
  const WorkloadStatusMsg s = FullStatus();
  auto bytes = EncodeWorkloadStatus(s);
  REQUIRE(bytes.ok());
  auto back = DecodeWorkloadStatus(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK(back->logs.size() == 16);

  WorkloadStatusMsg empty;
  auto e = DecodeWorkloadStatus(EncodeWorkloadStatus(empty).value());
  REQUIRE(e.ok());
  CHECK(*e == empty);

  // Every state, and the largest log reply.
  WorkloadStatusMsg big;
  for (int st = 0; st <= static_cast<int>(WorkloadRunState::kPulling); ++st) {
    WorkloadReport r;
    r.workload_id = "0123456789ab";
    r.state = static_cast<WorkloadRunState>(st);
    r.exit_code = std::numeric_limits<std::int32_t>::min();
    r.started_ns = std::numeric_limits<std::int64_t>::min();
    r.cpu_percent = st * 10.0;  // integral: still written as float64
    big.workloads.push_back(r);
  }
  big.logs = std::string(kMaxLogReplyBytes, 'x');
  const std::string big_bytes = EncodeWorkloadStatus(big).value();
  CHECK(big_bytes.find("\xcb\x40\x24\x00\x00\x00\x00\x00\x00", 0, 9) != std::string::npos);  // 10.0
  auto b = DecodeWorkloadStatus(big_bytes);
  REQUIRE(b.ok());
  CHECK(*b == big);
}

TEST_CASE("workload protocol: names of ops and states", "[swarmlet][workload]") {
  CHECK(WorkloadOpName(WorkloadOp::kStart) == "start");
  CHECK(WorkloadOpName(WorkloadOp::kReport) == "report");
  CHECK(WorkloadRunStateName(WorkloadRunState::kBackoff) == "backoff");
  CHECK(WorkloadRunStateName(WorkloadRunState::kStopped) == "stopped");
  CHECK(WorkloadRunStateName(WorkloadRunState::kUnknown) == "unknown");
  CHECK(WorkloadRunStateName(WorkloadRunState::kPulling) == "pulling");
}

TEST_CASE("workload protocol: encoders refuse what decoders would refuse", "[swarmlet][workload]") {
  WorkloadCommand c = FullCommand();
  c.request_id = 0;
  CHECK(EncodeWorkloadCommand(c).status().code() == mesh::StatusCode::kInvalidArgument);
  c = FullCommand();
  c.spec.argv.assign(kMaxWorkloadArgs + 1, "x");
  CHECK(EncodeWorkloadCommand(c).status().message().find("argv has more than 256") !=
        std::string::npos);
  c.spec.argv.assign(kMaxWorkloadArgs, "x");
  CHECK(EncodeWorkloadCommand(c).ok());
  c = FullCommand();
  c.spec.env.assign(kMaxWorkloadArgs + 1, "A=1");
  CHECK_FALSE(EncodeWorkloadCommand(c).ok());
  c = FullCommand();
  c.workload_id = std::string(65, 'a');
  CHECK_FALSE(EncodeWorkloadCommand(c).ok());
  c = FullCommand();
  c.op = static_cast<WorkloadOp>(9);
  CHECK_FALSE(EncodeWorkloadCommand(c).ok());

  WorkloadStatusMsg s = FullStatus();
  s.logs = std::string(kMaxLogReplyBytes + 1, 'x');
  CHECK_FALSE(EncodeWorkloadStatus(s).ok());
  s = FullStatus();
  s.workloads[0].error = std::string(kMaxWorkloadErrorBytes + 1, 'e');
  CHECK_FALSE(EncodeWorkloadStatus(s).ok());
  s = FullStatus();
  s.workloads[0].state = static_cast<WorkloadRunState>(7);
  CHECK_FALSE(EncodeWorkloadStatus(s).ok());
  s = FullStatus();
  s.images.push_back(std::string(100, 'd'));
  CHECK_FALSE(EncodeWorkloadStatus(s).ok());
  s = FullStatus();
  s.workloads[0].cpu_percent = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(EncodeWorkloadStatus(s).ok());
}

TEST_CASE("workload protocol: unknown ops, states and versions are refused",
          "[swarmlet][workload]") {
  // [version=2, request_id=5, op, ...]: byte 0 is the array header, 1 the
  // version, 2 the request id, 3 the op (all fixints).
  WorkloadCommand c = FullCommand();
  c.request_id = 5;
  std::string bytes = EncodeWorkloadCommand(c).value();
  REQUIRE(bytes[1] == 2);
  REQUIRE(bytes[2] == 5);
  REQUIRE(bytes[3] == 1);
  for (char op : {0, 6, 0x7f}) {
    std::string bad = bytes;
    bad[3] = op;
    auto d = DecodeWorkloadCommand(bad);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == mesh::StatusCode::kCorrupt);
    CHECK(d.status().message().find("op is unknown") != std::string::npos);
  }
  std::string v1 = bytes;
  v1[1] = 1;  // before image fields (issue 15)
  CHECK(DecodeWorkloadCommand(v1).status().code() == mesh::StatusCode::kUnsupported);
  std::string zero = bytes;
  zero[2] = 0;
  CHECK(DecodeWorkloadCommand(zero).status().message().find("request_id is 0") !=
        std::string::npos);
  CHECK(DecodeWorkloadCommand(bytes + "x").status().message().find("trailing") !=
        std::string::npos);
  CHECK_FALSE(DecodeWorkloadCommand(bytes.substr(0, bytes.size() - 1)).ok());
  CHECK_FALSE(DecodeWorkloadCommand("").ok());
  // A command is not a status and the other way round (different arity).
  CHECK_FALSE(DecodeWorkloadStatus(bytes).ok());

  // Status: [0x97, 2, request_id, full, error "", [ [id, state, ...] ], logs, images]
  WorkloadStatusMsg s;
  s.request_id = 1;
  s.workloads.push_back(FullReportOf("0123456789ab", WorkloadRunState::kRunning));
  s.workloads[0].error.clear();
  std::string st = EncodeWorkloadStatus(s).value();
  // 0x97 02 01 c2 a0 91 9d ac <12 id bytes> <state>
  const std::size_t state_at = 8 + 12;
  REQUIRE(static_cast<unsigned char>(st[7]) == 0xac);
  REQUIRE(st[state_at] == 0);
  std::string bad = st;
  bad[state_at] = 7;
  auto d = DecodeWorkloadStatus(bad);
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().message().find("state is unknown") != std::string::npos);
  CHECK_FALSE(DecodeWorkloadCommand(st).ok());
}

TEST_CASE("workload protocol: garbage and mutations never crash the decoders",
          "[swarmlet][workload]") {
  WorkloadCommand stop;
  stop.request_id = 3;
  stop.op = WorkloadOp::kStop;
  stop.workload_id = "0123456789ab";
  WorkloadStatusMsg small;
  small.workloads.push_back(FullReportOf("0123456789ab", WorkloadRunState::kRunning));
  const std::vector<std::string> seeds = {
      EncodeWorkloadCommand(FullCommand()).value(), EncodeWorkloadCommand(stop).value(),
      EncodeWorkloadStatus(FullStatus()).value(), EncodeWorkloadStatus(small).value()};
  std::mt19937_64 rng(20240611);
  int commands_ok = 0, statuses_ok = 0, errors = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string buf = Mutate(seeds, rng, i);
    auto c = DecodeWorkloadCommand(buf);
    auto s = DecodeWorkloadStatus(buf);
    if (c.ok()) {
      ++commands_ok;
      // What decodes re-encodes to the same value.
      auto again = EncodeWorkloadCommand(*c);
      REQUIRE(again.ok());
      auto twice = DecodeWorkloadCommand(*again);
      INFO(twice.status().ToString());
      REQUIRE(twice.ok());
      CHECK(*twice == *c);
    } else {
      CHECK_FALSE(c.status().message().empty());
      ++errors;
    }
    if (s.ok()) {
      ++statuses_ok;
      auto again = EncodeWorkloadStatus(*s);
      REQUIRE(again.ok());
      auto twice = DecodeWorkloadStatus(*again);
      INFO(twice.status().ToString());
      REQUIRE(twice.ok());
      CHECK(*twice == *s);
    } else {
      ++errors;
    }
  }
  // Most garbage is refused; some mutations (a changed string byte) stay valid.
  CHECK(errors > 20000);
  CHECK(commands_ok + statuses_ok > 0);
  // Pure noise is never a message.
  for (int i = 0; i < 2000; ++i) {
    std::string noise(1 + rng() % 200, '\0');
    for (auto& ch : noise) ch = static_cast<char>(rng());
    noise[0] = static_cast<char>(0xc1);  // never a valid msgpack type byte
    CHECK_FALSE(DecodeWorkloadCommand(noise).ok());
    CHECK_FALSE(DecodeWorkloadStatus(noise).ok());
  }
}

TEST_CASE("workload protocol: privileged is an optional 17th spec field, sent only when true",
          "[swarmlet][workload][security]") {
  const std::string kSpec16("\xdc\x00\x10", 3);  // msgpack array16 headers
  const std::string kSpec17("\xdc\x00\x11", 3);
  WorkloadCommand c = FullCommand();
  // Unprivileged: the 16 fields a node from before issue 17 decodes.
  auto plain = EncodeWorkloadCommand(c);
  REQUIRE(plain.ok());
  CHECK(plain->find(kSpec16) != std::string::npos);
  CHECK(plain->find(kSpec17) == std::string::npos);
  auto back = DecodeWorkloadCommand(*plain);
  REQUIRE(back.ok());
  CHECK_FALSE(back->spec.privileged);

  c.spec.privileged = true;
  auto privileged = EncodeWorkloadCommand(c);
  REQUIRE(privileged.ok());
  CHECK(privileged->find(kSpec17) != std::string::npos);
  back = DecodeWorkloadCommand(*privileged);
  REQUIRE(back.ok());
  CHECK(back->spec.privileged);
  CHECK(*back == c);

  // The field must be a bool: true (0xc3) before log_bytes (4096: cd 10 00).
  std::string bad = *privileged;
  const auto at = bad.rfind(std::string("\xc3\xcd\x10\x00", 4));
  REQUIRE(at != std::string::npos);
  bad[at] = '\x01';
  auto refused = DecodeWorkloadCommand(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == mesh::StatusCode::kCorrupt);
  CHECK(refused.status().message().find("privileged") != std::string::npos);
}
