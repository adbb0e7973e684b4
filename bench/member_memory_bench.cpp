// Issue 20: heap bytes a swarmlet holds per known cluster member.
//
// Builds, in one process and at each list size, what a swarmlet keeps for
// its member list: a ZmqTransport opened as swarmlet/src/agent.cpp opens it
// (CURVE, datagrams, lazy links, bound on 127.0.0.1) under a MeshMember
// with the SWIM detector, a signed member list decoded and applied to it
// (the agent then drops its own copy, as agent.cpp does once the mesh holds
// the list), and the state traffic adds (one sealed datagram
// from every member, sent over loopback to the transport's UDP port: a
// replay window and a crypto_box key each). Each piece is measured as the
// change of malloc's in-use bytes (mallinfo2().uordblks) across building
// it; bytes per member are the slope between the two sizes, so fixed costs
// (sockets, threads, buffers) drop out.
//
// The pieces are measured on separate transports as well, through the
// public Transport interface only, to show where the bytes go.
//
// Prints a table and writes JSON (--output).
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/certificate_authority.h"
#include "mesh/clock.h"
#include "mesh/envelope.h"
#include "mesh/failure_detector.h"
#include "mesh/failure_detector_config.h"
#include "mesh/member_list.h"
#include "mesh/mesh_member.h"
#include "mesh/zmq_transport.h"

namespace {

void Must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "member_memory_bench: %s failed\n", what);
    std::exit(1);
  }
}

std::int64_t HeapInUse() { return static_cast<std::int64_t>(mallinfo2().uordblks); }

// Bytes `build` leaves allocated (what it builds must stay alive: it is
// returned to the caller, who keeps it).
template <typename F>
std::int64_t Delta(F&& build) {
  const std::int64_t before = HeapInUse();
  build();
  return HeapInUse() - before;
}

struct FakeMember {
  std::string id;
  mesh::TransportKeyPair keys;
};

// Ids as swarmlets name themselves ("node-" + 12 hex digits), endpoints on
// loopback ports nobody listens on (nothing is sent to them).
std::vector<FakeMember> FakeMembers(int n) {
  std::vector<FakeMember> members(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "node-%012x", 0x5eed0000 + i);
    members[static_cast<std::size_t>(i)].id = id;
    auto keys = mesh::GenerateTransportKeyPair();
    Must(keys.ok(), "generate transport key");
    members[static_cast<std::size_t>(i)].keys = *keys;
  }
  return members;
}

std::string EndpointOf(int i) { return "tcp://127.0.0.1:" + std::to_string(20000 + i); }

// This member and the first `count` fakes, at `epoch`.
mesh::MemberList SignedList(const mesh::CertificateAuthority& ca, const std::string& self_id,
                            const mesh::TransportKey& self_key,
                            const std::vector<FakeMember>& fakes, std::size_t count,
                            std::uint64_t epoch = 1) {
  mesh::MemberList list;
  list.epoch = epoch;
  list.issued_ns = 1'795'687'200'000'000'000;
  mesh::Member self;
  self.node_id = self_id;
  self.name = "rpi-self";
  self.curve_key = self_key;
  self.endpoint = "tcp://127.0.0.1:1";
  list.members.push_back(self);
  for (std::size_t i = 0; i < count; ++i) {
    mesh::Member m;
    m.node_id = fakes[i].id;
    m.name = "rpi-" + std::to_string(i);
    m.role = i == 0 ? mesh::NodeRole::kPrimary : mesh::NodeRole::kWorker;
    m.signing_key[0] = static_cast<std::uint8_t>(i);
    m.signing_key[1] = static_cast<std::uint8_t>(i >> 8);
    m.curve_key = fakes[i].keys.public_key;
    m.endpoint = EndpointOf(static_cast<int>(i));
    list.members.push_back(m);
  }
  Must(ca.SignMemberList(list).ok(), "sign member list");
  return list;
}

std::unique_ptr<mesh::Transport> OpenTransport(const std::string& id,
                                               const mesh::TransportKeyPair& keys) {
  mesh::ZmqTransportOptions t;  // as swarmlet/src/agent.cpp OpenTransport
  t.self_id = id;
  t.bind_endpoint = "tcp://127.0.0.1:*";
  t.datagrams = true;
  t.idle_link_close = mesh::kMemberIdleLinkClose;
  t.keys = keys;
  auto transport = mesh::CreateZmqTransport(std::move(t));
  Must(transport.ok(), "create transport");
  return std::move(transport).value();
}

// A sealed datagram (datagram_channel.h) carrying a heartbeat from `from`.
std::string SealedHeartbeat(const FakeMember& from, const mesh::TransportKey& to,
                            std::uint64_t seq) {
  mesh::Envelope env;
  env.type = mesh::MsgType::kHeartbeat;
  env.sender = from.id;
  env.seq = seq;
  env.sent_ns = 1;
  const std::string bytes = *mesh::Encode(env);
  std::string out = "SSD1";
  out.push_back(static_cast<char>(from.id.size()));
  out += from.id;
  unsigned char nonce[crypto_box_NONCEBYTES];
  randombytes_buf(nonce, sizeof nonce);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  std::string box(crypto_box_MACBYTES + bytes.size(), '\0');
  Must(crypto_box_easy(reinterpret_cast<unsigned char*>(box.data()),
                       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nonce,
                       to.data(), from.keys.secret_key.data()) == 0,
       "seal datagram");
  return out + box;
}

// Sends one sealed heartbeat from every fake member to `transport` over
// loopback UDP and receives them all (each leaves a replay window and a
// crypto_box key behind).
void HearFromAll(mesh::Transport& transport, const mesh::TransportKey& key,
                 const std::vector<FakeMember>& fakes, const std::function<bool()>& receive_one) {
  const std::string& endpoint = transport.local_endpoint();
  const std::size_t colon = endpoint.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1))));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  Must(fd >= 0, "udp socket");
  std::size_t received = 0;
  constexpr std::size_t kInFlight = 64;  // below the receive buffer, nothing dropped
  for (std::size_t sent = 0; sent < fakes.size() || received < sent;) {
    while (sent < fakes.size() && sent - received < kInFlight) {
      const std::string d = SealedHeartbeat(fakes[sent], key, 1);
      Must(sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(d.size()),
           "sendto");
      ++sent;
    }
    Must(receive_one(), "receive a datagram");
    ++received;
  }
  close(fd);
}

struct Row {
  std::string name;
  std::int64_t small = 0, large = 0;
};

struct Sizes {
  int small, large;
};

// Everything one swarmlet holds for `n` members, piece by piece.
std::vector<std::pair<std::string, std::int64_t>> Measure(int n,
                                                          const mesh::CertificateAuthority& ca) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  const std::vector<FakeMember> fakes = FakeMembers(n);
  const std::string self_id = "node-00000000self";
  auto self_keys = mesh::GenerateTransportKeyPair();
  Must(self_keys.ok(), "self key");
  const mesh::MemberList list = SignedList(ca, self_id, self_keys->public_key, fakes, fakes.size());
  const std::string list_bytes = *mesh::EncodeMemberList(list);
  std::vector<mesh::AuthorizedKey> authorized;
  std::vector<mesh::PeerInfo> peers;
  for (const FakeMember& f : fakes) {
    authorized.push_back({f.id, f.keys.public_key});
    peers.push_back({f.id, EndpointOf(static_cast<int>(&f - fakes.data())), f.keys.public_key});
  }

  // The whole swarmlet: the agent's decoded list, then the MeshMember it applies it to.
  mesh::FakeClock clock;
  std::optional<mesh::MemberList> agent_copy;
  std::unique_ptr<mesh::MeshMember> member;
  const std::int64_t one_list = Delta([&] { agent_copy = *mesh::DecodeMemberList(list_bytes); });
  {
    auto transport = OpenTransport(self_id, *self_keys);
    auto created = mesh::MeshMember::Create(
        std::move(transport), ca.public_keys(),
        mesh::FailureDetectorConfig::Swim(std::chrono::milliseconds(100)), clock);
    Must(created.ok(), "create mesh member");
    member = std::move(created).value();
  }
  const std::int64_t apply = Delta([&] {
    Must(member->ApplyMemberList(*agent_copy).ok(), "apply list");
    agent_copy.reset();
  });
  out.push_back({"swarmlet: decoded member list applied to a MeshMember", one_list + apply});

  // The same pieces one at a time, on transports of their own.
  out.push_back({"  member list (one decoded copy, kept by MeshMember)", one_list});
  std::unique_ptr<mesh::Transport> t1 = OpenTransport(self_id, *self_keys);
  out.push_back({"  transport: SetAuthorizedKeys (allow-lists)",
                 Delta([&] { Must(t1->SetAuthorizedKeys(authorized).ok(), "authorize"); })});
  out.push_back({"  transport: AddPeer (peer entries)", Delta([&] {
                   for (const mesh::PeerInfo& p : peers) Must(t1->AddPeer(p).ok(), "add peer");
                 })});
  out.push_back({"  transport: one datagram heard from each (replay windows, box keys)", Delta([&] {
                   HearFromAll(*t1, self_keys->public_key, fakes, [&] {
                     for (int tries = 0; tries < 1000; ++tries) {
                       auto got = t1->Receive(std::chrono::milliseconds(10));
                       Must(got.ok(), "transport receive");
                       if (got->has_value()) return true;
                     }
                     return false;
                   });
                 })});
  std::optional<mesh::FailureDetector> detector;
  out.push_back({"  failure detector (SWIM)", Delta([&] {
                   auto fd = mesh::FailureDetector::Create(
                       self_id, mesh::FailureDetectorConfig::Swim(std::chrono::milliseconds(100)),
                       clock.Now(), 1);
                   Must(fd.ok(), "create detector");
                   detector.emplace(std::move(fd).value());
                   std::vector<mesh::MemberInfo> ids;
                   for (const mesh::Member& m : list.members) {
                     ids.push_back({m.node_id, m.role == mesh::NodeRole::kPrimary});
                   }
                   detector->SetMembers(ids, clock.Now());
                 })});
  return out;
}

struct Footprint {
  std::int64_t in_use = 0;     // mallinfo2 uordblks
  std::int64_t from_os = 0;    // mallinfo2 arena + hblkhd: heap obtained, in use or free
  std::int64_t anonymous = 0;  // /proc/self/smaps_rollup "Anonymous", what scale.py reads
};

Footprint Now() {
  Footprint f;
  const struct mallinfo2 m = mallinfo2();
  f.in_use = static_cast<std::int64_t>(m.uordblks);
  f.from_os = static_cast<std::int64_t>(m.arena + m.hblkhd);
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind("Anonymous:", 0) == 0) f.anonymous = 1024 * std::atoll(line.c_str() + 10);
  }
  return f;
}

// A cluster forming around this member, in a child process of its own (a
// fresh heap, as each swarmlet has): the list grows by one member per epoch
// up to `n`, each list encoded, decoded and applied (as the agent applies
// the primary's deltas) and then malloc_trim(0) (as the agent does), and
// one datagram is heard from each new member. What the growth left behind,
// freed or not, is in the figures.
Footprint Grow(int n, const mesh::CertificateAuthority& ca) {
  int fds[2];
  Must(pipe(fds) == 0, "pipe");
  const pid_t child = fork();
  Must(child >= 0, "fork");
  if (child == 0) {
    close(fds[0]);
    const std::vector<FakeMember> fakes = FakeMembers(n);
    const std::string self_id = "node-00000000self";
    auto self_keys = mesh::GenerateTransportKeyPair();
    Must(self_keys.ok(), "self key");
    mesh::FakeClock clock;
    const Footprint before = Now();
    auto created = mesh::MeshMember::Create(
        OpenTransport(self_id, *self_keys), ca.public_keys(),
        mesh::FailureDetectorConfig::Swim(std::chrono::milliseconds(100)), clock);
    Must(created.ok(), "create mesh member");
    std::unique_ptr<mesh::MeshMember> member = std::move(created).value();
    const std::string& endpoint = member->local_endpoint();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port =
        htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    Must(udp >= 0, "udp socket");
    for (int k = 1; k <= n; ++k) {
      {
        const std::string bytes = *mesh::EncodeMemberList(
            SignedList(ca, self_id, self_keys->public_key, fakes, static_cast<std::size_t>(k),
                       static_cast<std::uint64_t>(k)));
        auto decoded = mesh::DecodeMemberList(bytes);
        Must(decoded.ok() && member->ApplyMemberList(*decoded).ok(), "apply list");
      }
      malloc_trim(0);  // as the agent does after each list (swarmlet/src/agent.cpp)
      const std::string d =
          SealedHeartbeat(fakes[static_cast<std::size_t>(k - 1)], self_keys->public_key, 1);
      Must(sendto(udp, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(d.size()),
           "sendto");
      // Received by the transport (MeshMember::Poll would wait on the fake clock).
      for (int tries = 0;; ++tries) {
        auto got = member->transport().Receive(std::chrono::milliseconds(10));
        Must(tries < 1000 && got.ok(), "receive a datagram");
        if (got->has_value()) break;
      }
    }
    close(udp);
    const Footprint after = Now();
    const Footprint grown{after.in_use - before.in_use, after.from_os - before.from_os,
                          after.anonymous - before.anonymous};
    Must(write(fds[1], &grown, sizeof grown) == static_cast<ssize_t>(sizeof grown), "report");
    _exit(0);
  }
  close(fds[1]);
  Footprint grown;
  const bool got = read(fds[0], &grown, sizeof grown) == static_cast<ssize_t>(sizeof grown);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  Must(got && WIFEXITED(status) && WEXITSTATUS(status) == 0, "grow in a child");
  return grown;
}

}  // namespace

int main(int argc, char** argv) {
  Sizes sizes{100, 1000};
  std::string output;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small") && i + 1 < argc) {
      sizes.small = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--large") && i + 1 < argc) {
      sizes.large = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--output") && i + 1 < argc) {
      output = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--small N] [--large N] [--output FILE]\n", argv[0]);
      return 2;
    }
  }
  const int max_n = static_cast<int>(mesh::kMaxMembers) - 1;  // the list also holds this member
  if (sizes.small < 1 || sizes.large <= sizes.small || sizes.large > max_n) {
    std::fprintf(stderr, "member_memory_bench: need 1 <= small < large <= %d\n", max_n);
    return 2;
  }
  Must(sodium_init() >= 0, "sodium_init");
  auto ca = mesh::CertificateAuthority::Create();
  Must(ca.ok(), "create CA");

  // A warm-up round first: one-time allocations (libzmq, libsodium, stdio)
  // must not land in the first measurement.
  (void)Measure(sizes.small, *ca);
  const auto small = Measure(sizes.small, *ca);
  const auto large = Measure(sizes.large, *ca);

  std::printf("%-68s %10s %10s %9s\n", "heap bytes (mallinfo2 uordblks)",
              ("n=" + std::to_string(sizes.small)).c_str(),
              ("n=" + std::to_string(sizes.large)).c_str(), "B/member");
  std::string json =
      "{\n  \"bench\": \"member_memory\",\n  \"small\": " + std::to_string(sizes.small) +
      ",\n  \"large\": " + std::to_string(sizes.large) + ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < small.size(); ++i) {
    const double per_member =
        static_cast<double>(large[i].second - small[i].second) / (sizes.large - sizes.small);
    std::printf("%-68s %10lld %10lld %9.0f\n", small[i].first.c_str(),
                static_cast<long long>(small[i].second), static_cast<long long>(large[i].second),
                per_member);
    char row[512];
    std::snprintf(row, sizeof row,
                  "    {\"name\": \"%s\", \"bytes_small\": %lld, \"bytes_large\": %lld, "
                  "\"bytes_per_member\": %.1f}%s\n",
                  small[i].first.c_str() + small[i].first.find_first_not_of(' '),
                  static_cast<long long>(small[i].second), static_cast<long long>(large[i].second),
                  per_member, i + 1 < small.size() ? "," : "");
    json += row;
  }
  // The whole swarmlet row covers the list and MeshMember; traffic adds its
  // state on top (measured on its own transport above).
  const double traffic =
      static_cast<double>(large[4].second - small[4].second) / (sizes.large - sizes.small);
  const double whole =
      static_cast<double>(large[0].second - small[0].second) / (sizes.large - sizes.small);
  std::printf("%-68s %31.0f\n", "total per member (swarmlet + traffic state)", whole + traffic);

  // The same total reached the way a cluster forms, and what the process
  // holds for it besides what is in use.
  const Footprint grown_small = Grow(sizes.small, *ca);
  const Footprint grown_large = Grow(sizes.large, *ca);
  const auto slope = [&](std::int64_t Footprint::*field) {
    return static_cast<double>(grown_large.*field - grown_small.*field) /
           (sizes.large - sizes.small);
  };
  std::printf("\ngrown one member per epoch, in a child process each:\n");
  std::printf("%-68s %9.0f\n", "  heap in use (mallinfo2 uordblks), B/member",
              slope(&Footprint::in_use));
  std::printf("%-68s %9.0f\n", "  heap from the OS (arena + hblkhd), B/member",
              slope(&Footprint::from_os));
  std::printf("%-68s %9.0f\n", "  anonymous memory (smaps_rollup), B/member",
              slope(&Footprint::anonymous));
  char tail[256];
  std::snprintf(tail, sizeof tail,
                "  ],\n  \"total_bytes_per_member\": %.1f,\n  \"grown\": {\"in_use\": %.1f, "
                "\"from_os\": %.1f, \"anonymous\": %.1f}\n}\n",
                whole + traffic, slope(&Footprint::in_use), slope(&Footprint::from_os),
                slope(&Footprint::anonymous));
  json += tail;
  if (!output.empty()) {
    std::ofstream(output) << json;
  }
  return 0;
}
