// mesh_bench: what each layer of the mesh transport costs, measured in one run.
//
// Request/response latency (p50/p99) and one-way throughput for 64 B and 1 KB
// messages over
//   raw_tcp      TCP sockets on loopback (4-byte length prefix, TCP_NODELAY)
//   zmq          bare libzmq DEALER -> ROUTER, no security
//   zmq_curve    bare libzmq DEALER -> ROUTER with CURVE (no ZAP handler)
//   mesh         our ZmqTransport, CURVE off
//   mesh_curve   our ZmqTransport, CURVE on (ZAP allow-list, sender binding, replay window)
// One way, our transport batches once the peer's queue is full (see "Bursts"
// in mesh/zmq_transport.h); the share of batched messages is reported. The
// bare libzmq layers send frame by frame with the same queue lengths.
// plus envelope encode+decode of a 100-byte payload and the seed's stress case:
// 10,000 broadcasts of 1 KB from 4 members (2,500 each, to the 3 others),
// counting loss.
//
// The layers run interleaved so that the load of a shared machine falls on
// all of them alike: 10 rounds, each with fresh pairs of every layer, whose
// N/10 round trips alternate layer by layer (percentiles pool all rounds);
// then 10 rounds of M/10 one-way messages per layer (median round reported).
//
// Usage: mesh_bench [--output results.json] [--rtt N] [--messages M] [--quick] [--only LAYER]
// Every pair of endpoints lives in this process on 127.0.0.1; each side of a
// ZeroMQ pair has its own context (one I/O thread), as two members would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mesh/envelope.h"
#include "mesh/transport.h"
#include "mesh/zmq_transport.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "mesh_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(bool ok, const std::string& what) {
  if (!ok) Die(what);
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Config {
  int rtt_iterations = 20'000;
  int throughput_messages = 200'000;
  std::string output;
  std::string only;  // one layer, for profiling: no codec, stress, ratios or JSON
};

struct Row {
  std::string layer;
  std::size_t size = 0;
  double p50_us = 0, p99_us = 0, mean_us = 0;
  double cpu_us_per_rtt = 0;  // mean, whole process
  double msgs_per_s = 0;
  double cpu_us_per_msg = 0;  // one way, whole process
  double batched_share = 0;   // ZmqTransport, one way: share of messages sent in batch frames
  double per_batch = 0;       // and messages per batch frame
};

Row FromSamples(std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  Row r;
  r.p50_us = us[us.size() / 2];
  r.p99_us = us[us.size() * 99 / 100];
  double sum = 0;
  for (double v : us) sum += v;
  r.mean_us = sum / static_cast<double>(us.size());
  return r;
}

// CPU time of the whole process (every thread: both ends, ZeroMQ I/O threads).
double ProcessCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// One-way throughput of one round, and the CPU it took per message.
struct Rate {
  double msgs_per_s = 0;
  double cpu_us_per_msg = 0;
  double batched_share = 0;  // ZmqTransport: share of the messages sent inside batch frames
  double per_batch = 0;      // and how many went per batch frame
};

Rate RateOf(int n, Clock::time_point t0, Clock::time_point done, double cpu0) {
  return {n / std::chrono::duration<double>(done - t0).count(), (ProcessCpuMicros() - cpu0) / n};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One request/response pair with its answering side running in a thread.
class Echo {
 public:
  virtual ~Echo() = default;
  // One request and the wait for its answer.
  virtual void RoundTrip() = 0;
};

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---------------------------------------------------------------- raw TCP

void WriteAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    Check(w > 0, "tcp write");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool ReadAll(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// A connected loopback pair: .first is the client, .second the server side.
std::pair<int, int> TcpPair() {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  Check(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) == 0, "tcp bind");
  Check(::listen(listener, 1) == 0, "tcp listen");
  Check(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Check(::connect(client, reinterpret_cast<sockaddr*>(&addr), len) == 0, "tcp connect");
  const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  Check(server >= 0, "tcp accept");
  ::close(listener);
  const int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {client, server};
}

class RawTcpEcho final : public Echo {
 public:
  explicit RawTcpEcho(std::size_t size) : frame_(size + 4, 'x'), reply_(size + 4, '\0') {
    auto [client, server] = TcpPair();
    client_ = client;
    const std::uint32_t len = htonl(static_cast<std::uint32_t>(size));
    std::memcpy(frame_.data(), &len, 4);
    thread_ = std::thread([fd = server, n = frame_.size()] {
      std::string buf(n, '\0');
      while (ReadAll(fd, buf.data(), buf.size())) WriteAll(fd, buf.data(), buf.size());
      ::close(fd);
    });
  }
  ~RawTcpEcho() override {
    ::close(client_);  // the echo side reads EOF and ends
    thread_.join();
  }
  void RoundTrip() override {
    WriteAll(client_, frame_.data(), frame_.size());
    Check(ReadAll(client_, reply_.data(), reply_.size()), "tcp read");
  }

 private:
  int client_ = -1;
  std::string frame_, reply_;
  std::thread thread_;
};

Rate RawTcpThroughput(std::size_t size, int n) {
  auto [client, server] = TcpPair();
  Clock::time_point done;
  std::thread sink([fd = server, size, n, &done] {
    std::vector<char> buf(1 << 16);
    std::size_t pending = 0;  // bytes of the current frame still to skip
    std::size_t have = 0;     // header bytes gathered
    char header[4];
    int frames = 0;
    while (frames < n) {
      const ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r <= 0) break;
      std::size_t i = 0;
      const auto got = static_cast<std::size_t>(r);
      while (i < got) {
        if (pending > 0) {
          const std::size_t take = std::min(pending, got - i);
          pending -= take;
          i += take;
          if (pending == 0) ++frames;
        } else {
          header[have++] = buf[i++];
          if (have == 4) {
            std::uint32_t len;
            std::memcpy(&len, header, 4);
            pending = ntohl(len);
            have = 0;
            if (pending == 0) ++frames;
          }
        }
      }
    }
    done = Clock::now();
    ::close(fd);
    (void)size;
  });
  std::string frame(size + 4, 'x');
  const std::uint32_t len = htonl(static_cast<std::uint32_t>(size));
  std::memcpy(frame.data(), &len, 4);
  const double cpu0 = ProcessCpuMicros();
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i)
    WriteAll(client, frame.data(), frame.size());  // one write per message
  sink.join();
  const Rate rate = RateOf(n, t0, done, cpu0);
  ::close(client);
  return rate;
}

// ---------------------------------------------------------------- bare libzmq

struct BareZmq {
  void* server_ctx = zmq_ctx_new();
  void* client_ctx = zmq_ctx_new();
  void* router = nullptr;
  void* dealer = nullptr;

  explicit BareZmq(bool curve) {
    router = zmq_socket(server_ctx, ZMQ_ROUTER);
    dealer = zmq_socket(client_ctx, ZMQ_DEALER);
    const int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    const mesh::ZmqTransportOptions defaults;  // the same queues as ZmqTransport's
    zmq_setsockopt(router, ZMQ_RCVHWM, &defaults.receive_hwm, sizeof defaults.receive_hwm);
    zmq_setsockopt(dealer, ZMQ_SNDHWM, &defaults.send_hwm, sizeof defaults.send_hwm);
    if (curve) {
      auto server = mesh::GenerateTransportKeyPair().value();
      auto client = mesh::GenerateTransportKeyPair().value();
      const int one = 1;
      zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
      zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, server.secret_key.data(), 32);
      zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, server.public_key.data(), 32);
      zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, client.public_key.data(), 32);
      zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, client.secret_key.data(), 32);
    }
    Check(zmq_bind(router, "tcp://127.0.0.1:*") == 0, "zmq bind");
    char endpoint[256];
    std::size_t len = sizeof endpoint;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len);
    Check(zmq_connect(dealer, endpoint) == 0, "zmq connect");
  }
  ~BareZmq() {
    zmq_close(router);
    zmq_close(dealer);
    zmq_ctx_term(server_ctx);
    zmq_ctx_term(client_ctx);
  }
};

// Echoes [routing id][body] on the ROUTER until `stop`.
void RouterEcho(void* router, const std::atomic<bool>& stop) {
  zmq_pollitem_t item{router, 0, ZMQ_POLLIN, 0};
  while (!stop.load()) {
    if (zmq_poll(&item, 1, 50) <= 0) continue;
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&id, router, 0) >= 0 && zmq_msg_recv(&body, router, 0) >= 0) {
      zmq_msg_send(&id, router, ZMQ_SNDMORE);
      zmq_msg_send(&body, router, 0);
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
  }
}

class BareZmqEcho final : public Echo {
 public:
  BareZmqEcho(bool curve, std::size_t size) : z_(curve), request_(size, 'x'), reply_(size) {
    thread_ = std::thread(RouterEcho, z_.router, std::cref(stop_));
  }
  ~BareZmqEcho() override {
    stop_ = true;
    thread_.join();
  }
  void RoundTrip() override {
    Check(zmq_send(z_.dealer, request_.data(), request_.size(), 0) >= 0, "zmq send");
    Check(zmq_recv(z_.dealer, reply_.data(), reply_.size(), 0) >= 0, "zmq recv");
  }

 private:
  BareZmq z_;
  std::string request_;
  std::vector<char> reply_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Rate BareZmqThroughput(bool curve, std::size_t size, int n) {
  BareZmq z(curve);
  // Connected (and for CURVE, handshaken) before the clock starts.
  {
    std::atomic<bool> stop{false};
    std::thread echo(RouterEcho, z.router, std::cref(stop));
    char c = 0;
    zmq_send(z.dealer, &c, 1, 0);
    zmq_recv(z.dealer, &c, 1, 0);
    stop = true;
    echo.join();
  }
  Clock::time_point done;
  std::thread sink([&] {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (int i = 0; i < 2 * n; ++i) zmq_msg_recv(&msg, z.router, 0);  // id + body frames
    done = Clock::now();
    zmq_msg_close(&msg);
  });
  std::string payload(size, 'x');
  const double cpu0 = ProcessCpuMicros();
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) Check(zmq_send(z.dealer, payload.data(), size, 0) >= 0, "zmq send");
  sink.join();
  return RateOf(n, t0, done, cpu0);
}

// ---------------------------------------------------------------- ZmqTransport

struct MeshPair {
  std::unique_ptr<mesh::Transport> a, b;

  explicit MeshPair(bool curve) {
    auto ka = mesh::GenerateTransportKeyPair().value();
    auto kb = mesh::GenerateTransportKeyPair().value();
    std::vector<mesh::AuthorizedKey> keys = {{"a", ka.public_key}, {"b", kb.public_key}};
    mesh::ZmqTransportOptions oa, ob;
    oa.self_id = "a";
    ob.self_id = "b";
    oa.keys = ka;
    ob.keys = kb;
    oa.curve = ob.curve = curve;
    oa.authorized_keys = ob.authorized_keys = keys;
    auto ta = mesh::CreateZmqTransport(oa);
    auto tb = mesh::CreateZmqTransport(ob);
    Check(ta.ok() && tb.ok(), "create transports");
    a = std::move(ta).value();
    b = std::move(tb).value();
    Check(a->AddPeer({"b", b->local_endpoint(), kb.public_key}).ok(), "add peer");
    Check(b->AddPeer({"a", a->local_endpoint(), ka.public_key}).ok(), "add peer");
  }
};

// Sends, retrying while the peer is not connected or its queue is full.
void SendHard(mesh::Transport& t, const std::string& to, mesh::MsgType type, std::string_view p) {
  const auto deadline = Clock::now() + 30s;
  for (;;) {
    auto outcome = t.Send(to, type, p);
    Check(outcome.ok(), "send: " + outcome.status().ToString());
    if (outcome.value() == mesh::SendOutcome::kQueued) return;
    Check(Clock::now() < deadline, "send: peer never took the message");
    // Send never blocks. With a batch waiting (the peer's queue is full),
    // Flush waits until the queue takes it, as a blocked zmq_send does in the
    // bare baseline; otherwise (not connected yet) sleep, not spin.
    auto flushed = t.Flush(10ms);
    Check(flushed.ok(), "flush: " + flushed.status().ToString());
    if (flushed.value()) std::this_thread::sleep_for(20us);
  }
}

mesh::Envelope ReceiveHard(mesh::Transport& t) {
  for (int i = 0; i < 300; ++i) {
    auto got = t.Receive(100ms);
    Check(got.ok(), "receive: " + got.status().ToString());
    if (got.value()) return *std::move(got).value();
  }
  const auto s = t.stats();
  Die("receive: nothing for 30 s (received " + std::to_string(s.received) + ", garbage " +
      std::to_string(s.rejected_garbage) + ", replay " + std::to_string(s.rejected_replay) +
      ", oversize " + std::to_string(s.rejected_oversize) + ")");
}

class MeshEcho final : public Echo {
 public:
  MeshEcho(bool curve, std::size_t size) : p_(curve), payload_(size, 'x') {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        auto got = p_.b->Receive(50ms);
        Check(got.ok(), "echo receive");
        if (got.value()) SendHard(*p_.b, "a", mesh::MsgType::kHeartbeatAck, got.value()->payload);
      }
    });
  }
  ~MeshEcho() override {
    stop_ = true;
    thread_.join();
  }
  void RoundTrip() override {
    SendHard(*p_.a, "b", mesh::MsgType::kHeartbeat, payload_);
    ReceiveHard(*p_.a);
  }

 private:
  MeshPair p_;
  std::string payload_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Rate MeshThroughput(bool curve, std::size_t size, int n) {
  MeshPair p(curve);
  SendHard(*p.a, "b", mesh::MsgType::kHeartbeat, "warm-up");  // connected before the clock starts
  ReceiveHard(*p.b);
  Clock::time_point done;
  std::thread sink([&] {
    for (int i = 0; i < n; ++i) ReceiveHard(*p.b);
    done = Clock::now();
  });
  std::string payload(size, 'x');
  const double cpu0 = ProcessCpuMicros();
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) SendHard(*p.a, "b", mesh::MsgType::kMembershipGossip, payload);
  auto flushed = p.a->Flush(30s);  // the last batch, if the queue was full at the end
  Check(flushed.ok() && flushed.value(), "flush");
  sink.join();
  Rate rate = RateOf(n, t0, done, cpu0);
  const mesh::TransportStats stats = p.a->stats();
  rate.batched_share = static_cast<double>(stats.sent_batched) / n;
  rate.per_batch = stats.batches == 0 ? 0 : static_cast<double>(stats.sent_batched) / stats.batches;
  return rate;
}

// ---------------------------------------------------------------- envelope codec

struct CodecFigures {
  double encode_ns = 0, decode_ns = 0, both_ns = 0;
};

CodecFigures MeasureCodec() {
  mesh::Envelope e;
  e.type = mesh::MsgType::kHeartbeat;
  e.sender = "rpi-node-1";
  e.seq = 1'764'000'000'000'000'000ULL;
  e.sent_ns = 1'764'000'000'123'456'789LL;
  e.payload = std::string(100, '\x5a');
  constexpr int kN = 1'000'000;
  std::string wire;
  std::size_t sink = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < kN; ++i) {
    wire.clear();
    Check(mesh::EncodeTo(e, wire).ok(), "encode");
    sink += wire.size();
  }
  auto t1 = Clock::now();
  for (int i = 0; i < kN; ++i) {
    auto d = mesh::Decode(wire);
    Check(d.ok(), "decode");
    sink += d->payload.size();
  }
  auto t2 = Clock::now();
  for (int i = 0; i < kN; ++i) {
    wire.clear();
    Check(mesh::EncodeTo(e, wire).ok(), "encode");
    auto d = mesh::Decode(wire);
    sink += d->seq & 1;
  }
  auto t3 = Clock::now();
  Check(sink > 0, "codec");
  auto ns = [](Clock::duration d) {
    return std::chrono::duration<double, std::nano>(d).count() / kN;
  };
  return {ns(t1 - t0), ns(t2 - t1), ns(t3 - t2)};
}

// ---------------------------------------------------------------- stress

struct StressFigures {
  int members = 4;
  int broadcasts = 10'000;
  std::size_t size = 1024;
  std::uint64_t expected = 0, delivered = 0, lost = 0, rejected = 0;
  double seconds = 0, mb_per_s = 0;
};

// The seed's stress case: 10,000 broadcasts of 1 KB spread over the members,
// each member broadcasting its share to every other, all at once, CURVE on.
StressFigures Stress() {
  StressFigures f;
  const int share = f.broadcasts / f.members;
  std::vector<mesh::TransportKeyPair> keys;
  std::vector<mesh::AuthorizedKey> allow;
  std::vector<std::unique_ptr<mesh::Transport>> members;
  for (int i = 0; i < f.members; ++i) {
    keys.push_back(mesh::GenerateTransportKeyPair().value());
    allow.push_back({"m" + std::to_string(i), keys.back().public_key});
  }
  for (int i = 0; i < f.members; ++i) {
    mesh::ZmqTransportOptions o;
    o.self_id = allow[static_cast<std::size_t>(i)].id;
    o.keys = keys[static_cast<std::size_t>(i)];
    o.authorized_keys = allow;
    auto t = mesh::CreateZmqTransport(o);
    Check(t.ok(), "create stress member");
    members.push_back(std::move(t).value());
  }
  for (auto& m : members) {
    for (std::size_t j = 0; j < members.size(); ++j) {
      if (members[j].get() != m.get()) {
        Check(m->AddPeer({allow[j].id, members[j]->local_endpoint(), allow[j].key}).ok(), "peer");
      }
    }
  }
  const auto expect_each = static_cast<std::uint64_t>(share * (f.members - 1));
  f.expected = expect_each * static_cast<std::uint64_t>(f.members);
  std::vector<std::uint64_t> got(members.size(), 0);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < members.size(); ++i) {
    threads.emplace_back([&, i] {
      mesh::Transport& me = *members[i];
      std::string payload(f.size, '\0');
      int next = 0;          // broadcast number
      std::size_t peer = 0;  // next peer for that broadcast
      auto idle_since = Clock::now();
      while (next < share || got[i] < expect_each) {
        if (next < share) {
          if (peer == i) ++peer;
          if (peer >= members.size()) {
            peer = 0;
            ++next;
            continue;
          }
          std::memcpy(payload.data(), &next, sizeof next);
          auto outcome = me.Send(allow[peer].id, mesh::MsgType::kMembershipGossip, payload);
          Check(outcome.ok(), "stress send");
          if (outcome.value() == mesh::SendOutcome::kQueued) ++peer;
        }
        auto r = me.Receive(next < share ? 0ns : mesh::Nanos(10ms));
        Check(r.ok(), "stress receive");
        if (r.value()) {
          ++got[i];
          idle_since = Clock::now();
        } else if (next >= share && Clock::now() - idle_since > 10s) {
          break;  // nothing for 10 s: what is missing is lost
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (std::size_t i = 0; i < members.size(); ++i) {
    f.delivered += got[i];
    const auto s = members[i]->stats();
    f.rejected += s.rejected_garbage + s.rejected_oversize + s.rejected_version + s.rejected_type +
                  s.rejected_replay + s.rejected_unauthorized + s.rejected_spoofed;
  }
  f.lost = f.expected - f.delivered;
  f.mb_per_s = static_cast<double>(f.delivered * f.size) / (1 << 20) / f.seconds;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--output" && i + 1 < argc) {
      cfg.output = argv[++i];
    } else if (arg == "--rtt" && i + 1 < argc) {
      cfg.rtt_iterations = std::stoi(argv[++i]);
    } else if (arg == "--messages" && i + 1 < argc) {
      cfg.throughput_messages = std::stoi(argv[++i]);
    } else if (arg == "--only" && i + 1 < argc) {
      cfg.only = argv[++i];
    } else if (arg == "--quick") {
      cfg.rtt_iterations = 2'000;
      cfg.throughput_messages = 20'000;
    } else {
      std::fprintf(
          stderr,
          "usage: mesh_bench [--output FILE] [--rtt N] [--messages N] [--quick] [--only LAYER]\n");
      return 2;
    }
  }
  const std::string load_before = LoadAverage();
  std::printf("mesh_bench: %d round trips, %d one-way messages per case; load %s\n",
              cfg.rtt_iterations, cfg.throughput_messages, load_before.c_str());

  // Layers run interleaved so that the load of this shared machine falls on
  // all of them alike (see the file comment).
  constexpr int kRounds = 10;
  const std::vector<std::string> layers = {"raw_tcp", "zmq", "zmq_curve", "mesh", "mesh_curve"};
  std::vector<Row> rows;
  for (std::size_t size : {std::size_t{64}, std::size_t{1024}}) {
    std::vector<std::string> active;
    for (const std::string& layer : layers) {
      if (cfg.only.empty() || cfg.only == layer) active.push_back(layer);
    }
    std::map<std::string, std::vector<double>> samples;
    std::map<std::string, double> cpu;
    std::map<std::string, std::vector<double>> rates, cpu_per_msg, batched, per_batch;
    // Fresh pairs (new threads, new connections) per round, so that no layer
    // keeps an unlucky thread placement for the whole run; within a round the
    // round trips alternate layer by layer, so a burst of load hits all.
    for (int round = 0; round < kRounds; ++round) {
      std::map<std::string, std::unique_ptr<Echo>> echo;
      for (const std::string& layer : active) {
        if (layer == "raw_tcp") echo[layer] = std::make_unique<RawTcpEcho>(size);
        if (layer == "zmq") echo[layer] = std::make_unique<BareZmqEcho>(false, size);
        if (layer == "zmq_curve") echo[layer] = std::make_unique<BareZmqEcho>(true, size);
        if (layer == "mesh") echo[layer] = std::make_unique<MeshEcho>(false, size);
        if (layer == "mesh_curve") echo[layer] = std::make_unique<MeshEcho>(true, size);
        for (int i = 0; i < 100; ++i) echo[layer]->RoundTrip();  // connect, handshake, warm up
      }
      for (int i = 0; i < cfg.rtt_iterations / kRounds; ++i) {
        for (const std::string& layer : active) {
          const double cpu0 = ProcessCpuMicros();
          const auto t0 = Clock::now();
          echo[layer]->RoundTrip();
          samples[layer].push_back(Micros(Clock::now() - t0));
          cpu[layer] += ProcessCpuMicros() - cpu0;
        }
      }
    }
    const int m = cfg.throughput_messages / kRounds;
    for (int round = 0; round < kRounds; ++round) {
      for (const std::string& layer : active) {
        Rate rate;
        if (layer == "raw_tcp") rate = RawTcpThroughput(size, m);
        if (layer == "zmq") rate = BareZmqThroughput(false, size, m);
        if (layer == "zmq_curve") rate = BareZmqThroughput(true, size, m);
        if (layer == "mesh") rate = MeshThroughput(false, size, m);
        if (layer == "mesh_curve") rate = MeshThroughput(true, size, m);
        rates[layer].push_back(rate.msgs_per_s);
        cpu_per_msg[layer].push_back(rate.cpu_us_per_msg);
        batched[layer].push_back(rate.batched_share);
        per_batch[layer].push_back(rate.per_batch);
      }
    }
    for (const std::string& layer : active) {
      Row r = FromSamples(samples[layer]);
      r.layer = layer;
      r.size = size;
      r.msgs_per_s = Median(rates[layer]);
      r.cpu_us_per_msg = Median(cpu_per_msg[layer]);
      r.batched_share = Median(batched[layer]);
      r.per_batch = Median(per_batch[layer]);
      r.cpu_us_per_rtt = cpu[layer] / static_cast<double>(samples[layer].size());
      rows.push_back(r);
      std::printf("  %-11s %5zu B  p50 %7.1f us  p99 %7.1f us  %9.0f msg/s  cpu %5.2f us/msg",
                  layer.c_str(), size, r.p50_us, r.p99_us, r.msgs_per_s, r.cpu_us_per_msg);
      if (r.batched_share > 0) {
        std::printf("  (%.1f%% in batches of %.0f)", 100 * r.batched_share, r.per_batch);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  if (!cfg.only.empty()) return 0;
  const CodecFigures codec = MeasureCodec();
  const StressFigures stress = Stress();
  const std::string load_after = LoadAverage();

  auto find = [&](const std::string& layer, std::size_t size) -> const Row& {
    for (const Row& r : rows) {
      if (r.layer == layer && r.size == size) return r;
    }
    Die("missing row");
  };

  std::printf("\n%-11s %6s %10s %10s %10s %10s %12s %10s\n", "layer", "bytes", "rtt p50 us",
              "rtt p99 us", "rtt mean", "cpu us/rtt", "one-way/s", "cpu us/msg");
  for (const Row& r : rows) {
    std::printf("%-11s %6zu %10.1f %10.1f %10.1f %10.1f %12.0f %10.2f\n", r.layer.c_str(), r.size,
                r.p50_us, r.p99_us, r.mean_us, r.cpu_us_per_rtt, r.msgs_per_s, r.cpu_us_per_msg);
  }
  std::printf("\nratios (same run)            p50 64 B  p50 1 KB  cpu/rtt 64 B  cpu/rtt 1 KB\n");
  for (const auto& [ours, base] :
       std::vector<std::pair<std::string, std::string>>{{"mesh_curve", "zmq_curve"},
                                                        {"mesh_curve", "zmq"},
                                                        {"mesh", "zmq"},
                                                        {"zmq_curve", "zmq"},
                                                        {"zmq", "raw_tcp"}}) {
    std::printf("  %-10s / %-9s %9.2fx %9.2fx %12.2fx %12.2fx\n", ours.c_str(), base.c_str(),
                find(ours, 64).p50_us / find(base, 64).p50_us,
                find(ours, 1024).p50_us / find(base, 1024).p50_us,
                find(ours, 64).cpu_us_per_rtt / find(base, 64).cpu_us_per_rtt,
                find(ours, 1024).cpu_us_per_rtt / find(base, 1024).cpu_us_per_rtt);
  }
  std::printf("\nenvelope (100 B payload): encode %.0f ns, decode %.0f ns, encode+decode %.0f ns\n",
              codec.encode_ns, codec.decode_ns, codec.both_ns);
  std::printf(
      "stress: %d members x %d broadcasts of %zu B (CURVE): %llu of %llu delivered, "
      "%llu lost, %llu rejected, %.2f s, %.1f MB/s\n",
      stress.members, stress.broadcasts / stress.members, stress.size,
      static_cast<unsigned long long>(stress.delivered),
      static_cast<unsigned long long>(stress.expected),
      static_cast<unsigned long long>(stress.lost),
      static_cast<unsigned long long>(stress.rejected), stress.seconds, stress.mb_per_s);
  std::printf("load average before: %s, after: %s\n", load_before.c_str(), load_after.c_str());

  const Row& ours = find("mesh_curve", 1024);
  const Row& ours64 = find("mesh_curve", 64);
  const double ratio64 = ours64.p50_us / find("zmq_curve", 64).p50_us;
  const double ratio1k = ours.p50_us / find("zmq_curve", 1024).p50_us;
  std::printf(
      "\ntargets: p50 ratio <= 1.20 (64 B %.2f, 1 KB %.2f) %s; p99 <= 500 us (%.0f, %.0f) %s; "
      "CURVE 1 KB >= 300k msg/s (%.0f) %s; stress 0 lost (%llu) %s; codec <= 1000 ns (%.0f) %s\n",
      ratio64, ratio1k, std::max(ratio64, ratio1k) <= 1.2 ? "met" : "MISSED", ours64.p99_us,
      ours.p99_us, std::max(ours64.p99_us, ours.p99_us) <= 500 ? "met" : "MISSED", ours.msgs_per_s,
      ours.msgs_per_s >= 300'000 ? "met" : "MISSED", static_cast<unsigned long long>(stress.lost),
      stress.lost == 0 ? "met" : "MISSED", codec.both_ns, codec.both_ns <= 1000 ? "met" : "MISSED");

  if (!cfg.output.empty()) {
    std::ostringstream j;
    j << "{\n  \"benchmark\": \"mesh_bench\",\n  \"rtt_iterations\": " << cfg.rtt_iterations
      << ",\n  \"throughput_messages\": " << cfg.throughput_messages << ",\n  \"load_before\": \""
      << load_before << "\",\n  \"load_after\": \"" << load_after << "\",\n  \"layers\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      j << "    {\"layer\": \"" << r.layer << "\", \"bytes\": " << r.size
        << ", \"rtt_p50_us\": " << r.p50_us << ", \"rtt_p99_us\": " << r.p99_us
        << ", \"rtt_mean_us\": " << r.mean_us << ", \"rtt_cpu_us\": " << r.cpu_us_per_rtt
        << ", \"one_way_msgs_per_s\": " << r.msgs_per_s
        << ", \"one_way_cpu_us_per_msg\": " << r.cpu_us_per_msg
        << ", \"one_way_batched_share\": " << r.batched_share
        << ", \"one_way_msgs_per_batch\": " << r.per_batch << "}"
        << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    j << "  ],\n  \"p50_ratio_mesh_curve_to_zmq_curve\": {\"64\": " << ratio64
      << ", \"1024\": " << ratio1k << "},\n  \"envelope_100b_ns\": {\"encode\": " << codec.encode_ns
      << ", \"decode\": " << codec.decode_ns << ", \"encode_decode\": " << codec.both_ns
      << "},\n  \"stress\": {\"members\": " << stress.members
      << ", \"broadcasts\": " << stress.broadcasts << ", \"bytes\": " << stress.size
      << ", \"expected\": " << stress.expected << ", \"delivered\": " << stress.delivered
      << ", \"lost\": " << stress.lost << ", \"rejected\": " << stress.rejected
      << ", \"seconds\": " << stress.seconds << ", \"mb_per_s\": " << stress.mb_per_s << "}\n}\n";
    std::ofstream out(cfg.output);
    out << j.str();
    Check(out.good(), "write " + cfg.output);
    std::printf("wrote %s\n", cfg.output.c_str());
  }
  return 0;
}
