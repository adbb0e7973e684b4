// Test harnesses that build a small mesh on one Transport implementation, so
// the same test cases run against each (transport_test.cpp).
//
// A harness holds members (id -> key pair + Transport) and "ghosts":
// identities that are authorized but have no Transport, used to push raw,
// hand-made bytes at a member over a properly authenticated path (ZeroMQ: a
// CURVE DEALER with the ghost's key; in memory: InMemoryNetwork::InjectRaw).
//
// Thread safety: one test thread.
#pragma once

#include <zmq.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mesh/inmemory_transport.h"
#include "mesh/transport.h"
#include "mesh/zmq_transport.h"

namespace mesh_test {

using namespace std::chrono_literals;

// Generous: a loaded 2-core machine may be slow, but the tests only wait
// for things that must happen.
inline constexpr auto kPatience = 20s;

struct Identity {
  mesh::TransportKeyPair keys;
  std::unique_ptr<mesh::Transport> transport;  // null for a ghost
};

class Harness {
 public:
  // Datagrams and lazy links (ZmqTransportOptions): a send to a peer that
  // cannot or will not take it may still say kQueued (a datagram, or a
  // message waiting for a link's first handshake); it is never delivered.
  static constexpr bool kLean = false;

  virtual ~Harness() = default;

  // A member with a fresh key pair; not yet connected to anyone.
  mesh::Transport& Add(const std::string& id) {
    Identity& identity = identities_[id];
    identity.keys = NewKeys();
    identity.transport = Create(id, identity.keys);
    return *identity.transport;
  }
  // An identity that is authorized everywhere (by Mesh) but has no transport.
  void AddGhost(const std::string& id) { identities_[id].keys = NewKeys(); }

  // Every member authorizes every identity and knows every other member as a peer.
  void Mesh() {
    std::vector<mesh::AuthorizedKey> all;
    for (auto& [id, identity] : identities_) all.push_back({id, identity.keys.public_key});
    for (auto& [id, identity] : identities_) {
      if (!identity.transport) continue;
      if (!identity.transport->SetAuthorizedKeys(all).ok()) throw std::runtime_error("authorize");
      for (auto& [peer_id, peer] : identities_) {
        if (peer_id == id || !peer.transport) continue;
        if (!identity.transport->AddPeer(InfoOf(peer_id)).ok()) throw std::runtime_error("peer");
      }
    }
  }

  mesh::Transport& operator[](const std::string& id) { return *identities_.at(id).transport; }
  const mesh::TransportKeyPair& KeysOf(const std::string& id) { return identities_.at(id).keys; }
  mesh::PeerInfo InfoOf(const std::string& id) {
    Identity& identity = identities_.at(id);
    return {id, identity.transport->local_endpoint(), identity.keys.public_key};
  }
  std::vector<mesh::AuthorizedKey> AllKeys() {
    std::vector<mesh::AuthorizedKey> all;
    for (auto& [id, identity] : identities_) all.push_back({id, identity.keys.public_key});
    return all;
  }

  // Stops member `id` (its key stays known, as for a crashed member).
  void Remove(const std::string& id) { identities_.at(id).transport.reset(); }

  // Replaces member `id` by a new transport with the same key and endpoint
  // (a process restart); the caller authorizes and adds peers again.
  mesh::Transport& Restart(const std::string& id) {
    Identity& identity = identities_.at(id);
    const std::string endpoint = identity.transport->local_endpoint();
    identity.transport.reset();
    identity.transport = CreateAt(id, identity.keys, endpoint);
    return *identity.transport;
  }

  // Delivers `bytes` to member `to` over a connection authenticated as `from`.
  virtual void InjectRaw(const std::string& from, const std::string& to, std::string bytes) = 0;

 protected:
  virtual std::unique_ptr<mesh::Transport> Create(const std::string& id,
                                                  const mesh::TransportKeyPair& keys) = 0;
  // Create() at a given endpoint (for a restart).
  virtual std::unique_ptr<mesh::Transport> CreateAt(const std::string& id,
                                                    const mesh::TransportKeyPair& keys,
                                                    const std::string& endpoint) = 0;
  std::map<std::string, Identity> identities_;

 private:
  static mesh::TransportKeyPair NewKeys() {
    auto keys = mesh::GenerateTransportKeyPair();
    if (!keys.ok()) throw std::runtime_error(keys.status().ToString());
    return keys.value();
  }
};

class InMemoryHarness : public Harness {
 public:
  static constexpr bool kAuthenticated = true;

  void InjectRaw(const std::string& from, const std::string& to, std::string bytes) override {
    mesh::Status s =
        network_.InjectRaw(KeysOf(from).public_key, InfoOf(to).endpoint, std::move(bytes));
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  mesh::InMemoryNetwork& network() { return network_; }

 protected:
  std::unique_ptr<mesh::Transport> Create(const std::string& id,
                                          const mesh::TransportKeyPair& keys) override {
    auto t = network_.Attach(id, keys.public_key);
    if (!t.ok()) throw std::runtime_error(t.status().ToString());
    return std::move(t).value();
  }
  std::unique_ptr<mesh::Transport> CreateAt(
      const std::string& id, const mesh::TransportKeyPair& keys,
      const std::string& /*endpoint: always mem://id*/) override {
    return Create(id, keys);
  }

 private:
  mesh::InMemoryNetwork network_;
};

// kLean: datagrams and lazy links on (as the swarmlet and the GPU peer run).
template <bool kCurve, bool kLeanMembers = false>
class ZmqHarness : public Harness {
 public:
  static constexpr bool kAuthenticated = kCurve;
  static constexpr bool kLean = kLeanMembers;
  // Lazy links of lean members close after this long without a send.
  std::chrono::milliseconds idle_link_close = 30s;

  ZmqHarness() : raw_context_(zmq_ctx_new()) {}

  // Send and receive HWM for members created from now on (0: the defaults).
  int hwm = 0;
  ~ZmqHarness() override {
    for (auto& [key, socket] : raw_) zmq_close(socket);
    zmq_ctx_term(raw_context_);
  }

  void InjectRaw(const std::string& from, const std::string& to, std::string bytes) override {
    void*& socket = raw_[{from, to}];
    if (socket == nullptr) socket = RawDealer(from, to);
    // No ZMQ_IMMEDIATE here: the message waits for the handshake.
    if (zmq_send(socket, bytes.data(), bytes.size(), 0) < 0) {
      throw std::runtime_error(std::string("raw send: ") + zmq_strerror(zmq_errno()));
    }
  }

  std::unique_ptr<mesh::Transport> CreateAt(const std::string& id,
                                            const mesh::TransportKeyPair& keys,
                                            const std::string& endpoint) override {
    mesh::ZmqTransportOptions options;
    options.self_id = id;
    options.curve = kCurve;
    options.keys = keys;
    options.bind_endpoint = endpoint;
    options.linger = 0ms;
    if (hwm > 0) options.send_hwm = options.receive_hwm = hwm;
    if (kLeanMembers) {
      options.datagrams = true;
      options.idle_link_close = idle_link_close;
    }
    // The address may still be held for a moment after a restart.
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    for (;;) {
      auto t = mesh::CreateZmqTransport(options);
      if (t.ok()) return std::move(t).value();
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error(t.status().ToString());
      }
      std::this_thread::sleep_for(50ms);
    }
  }

 protected:
  std::unique_ptr<mesh::Transport> Create(const std::string& id,
                                          const mesh::TransportKeyPair& keys) override {
    return CreateAt(id, keys, "tcp://127.0.0.1:*");
  }

 private:
  void* RawDealer(const std::string& from, const std::string& to) {
    void* socket = zmq_socket(raw_context_, ZMQ_DEALER);
    const int linger = 0;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
    const int timeout_ms = 20'000;
    zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (kCurve) {
      const auto& mine = KeysOf(from);
      const auto& theirs = KeysOf(to);
      zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, theirs.public_key.data(), 32);
      zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, mine.public_key.data(), 32);
      zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, mine.secret_key.data(), 32);
    } else {
      zmq_setsockopt(socket, ZMQ_ROUTING_ID, from.data(), from.size());
    }
    if (zmq_connect(socket, InfoOf(to).endpoint.c_str()) != 0) {
      throw std::runtime_error("raw connect");
    }
    return socket;
  }

  void* raw_context_;
  std::map<std::pair<std::string, std::string>, void*> raw_;
};

using ZmqCurveHarness = ZmqHarness<true>;
using ZmqPlainHarness = ZmqHarness<false>;
using ZmqLeanHarness = ZmqHarness<true, true>;
using ZmqLeanPlainHarness = ZmqHarness<false, true>;

}  // namespace mesh_test
