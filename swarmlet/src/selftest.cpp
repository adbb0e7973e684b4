#include "swarmlet/selftest.h"

#include <avahi-client/client.h>
#include <avahi-common/error.h>
#include <avahi-common/simple-watch.h>
#include <libcgroup.h>
#include <sodium.h>
#include <zmq.h>

#include <array>
#include <string_view>

#include "mesh/envelope.h"
#include "swarmlet/build_info.h"
#include "swarmlet/cgroup_mode.h"
#include "swarmlet/hwprofile.h"

namespace swarmlet {
namespace {

SelfTestCheck CheckZmq() {
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  const bool curve = zmq_has("curve") != 0;
  std::string detail = std::to_string(major) + "." + std::to_string(minor) + "." +
                       std::to_string(patch) + ", has curve: " + (curve ? "yes" : "no");
  if (curve) {
    // zmq_curve_keypair goes through libsodium: proves the two are wired together.
    std::array<char, 41> pub{}, sec{};
    if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
      return {"libzmq", false, detail + ", curve keypair failed: " + zmq_strerror(zmq_errno())};
    }
  }
  return {"libzmq", curve, detail};
}

SelfTestCheck CheckSodium() {
  if (sodium_init() < 0) return {"libsodium", false, "sodium_init failed"};
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::array<unsigned char, 32> msg{};
  randombytes_buf(msg.data(), msg.size());
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), sk.data());
  const bool good = crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
  msg[0] ^= 1;
  const bool tampered_refused =
      crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) != 0;
  const bool ok = good && tampered_refused;
  return {"libsodium", ok,
          std::string(sodium_version_string()) + ", ed25519 sign/verify round trip: " +
              (ok ? "ok" : (good ? "tampered message accepted" : "valid signature refused"))};
}

SelfTestCheck CheckMsgpack() {
  mesh::Envelope env;
  env.sender = "selftest";
  env.seq = 42;
  env.sent_ns = -1;
  env.payload = std::string("\x00\x01\xff", 3);
  auto bytes = mesh::Encode(env);
  if (!bytes.ok()) return {"msgpack", false, bytes.status().ToString()};
  auto back = mesh::Decode(*bytes);
  if (!back.ok()) return {"msgpack", false, back.status().ToString()};
  const bool ok = *back == env;
  return {"msgpack", ok,
          "envelope round trip (" + std::to_string(bytes->size()) + " bytes): " +
              (ok ? "ok" : "mismatch")};
}

SelfTestCheck CheckCgroup() {
  const CgroupMode mode = DetectCgroupMode();
  const int rc = cgroup_init();
  std::string detail = "mode " + std::string(CgroupModeName(mode)) + ", libcgroup init: ";
  detail += rc == 0 ? "ok" : cgroup_strerror(rc);
  if (mode != CgroupMode::kNone) {
    detail += MemoryControllerEnabled() ? ", memory controller: yes"
                                        : ", WARNING: " + std::string(kMemoryControllerHint);
  }
  // libcgroup failing where there is no cgroup filesystem is the right answer.
  const bool consistent = rc == 0 || mode == CgroupMode::kNone;
  return {"cgroup", consistent, detail};
}

SelfTestCheck CheckAvahi() {
  AvahiSimplePoll* poll = avahi_simple_poll_new();
  if (poll == nullptr) return {"avahi", false, "avahi_simple_poll_new failed"};
  int error = 0;
  AvahiClient* client = avahi_client_new(
      avahi_simple_poll_get(poll), static_cast<AvahiClientFlags>(0),
      [](AvahiClient*, AvahiClientState, void*) {}, nullptr, &error);
  SelfTestCheck check{"avahi", true, ""};
  if (client == nullptr) {
    check.detail = std::string("client library ok, daemon not reachable (") +
                   avahi_strerror(error) + ")";
  } else {
    const char* version = avahi_client_get_version_string(client);
    check.detail = std::string("daemon reachable (") + (version ? version : "unknown version") + ")";
    avahi_client_free(client);
  }
  avahi_simple_poll_free(poll);
  return check;
}

SelfTestCheck CheckHardware() {
  const HardwareProfile p = ReadHardwareProfile();
  return {"hardware", p.cores > 0,
          p.model + "; " + HardwareProfileLogLine(p).substr(sizeof("Hardware profile: ") - 1)};
}

}  // namespace

std::vector<SelfTestCheck> RunSelfTest() {
  return {CheckZmq(), CheckSodium(), CheckMsgpack(), CheckCgroup(), CheckAvahi(), CheckHardware()};
}

int PrintSelfTest(const std::vector<SelfTestCheck>& checks, std::ostream& out) {
  out << "swarmlet " << Version() << " (" << Revision() << ") " << Arch()
      << (StaticallyLinked() ? " static" : " dynamic") << "\n";
  bool all_ok = true;
  for (const auto& c : checks) {
    out << "  " << c.name << ": " << c.detail << (c.ok ? "" : "  [FAILED]") << "\n";
    all_ok = all_ok && c.ok;
  }
  out << (all_ok ? "selftest: ok" : "selftest: FAILED") << "\n";
  return all_ok ? 0 : 1;
}

}  // namespace swarmlet
