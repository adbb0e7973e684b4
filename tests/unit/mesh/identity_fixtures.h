// Fixtures shared by the identity, certificate, member-list and codec tests.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "mesh/certificate.h"
#include "mesh/certificate_authority.h"
#include "mesh/identity_store.h"
#include "mesh/member_list.h"

namespace mesh_test {

// 2026-11-26T10:00:00Z and 2026-11-27T10:00:00Z.
inline constexpr std::int64_t kIssuedNs = 1'795'687'200'000'000'000;
inline constexpr std::int64_t kExpiresNs = 1'795'773'600'000'000'000;

// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/mesh-identity-test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  // Names in the directory (no . and ..), sorted.
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

inline mesh::CertificateAuthority NewCa() {
  auto ca = mesh::CertificateAuthority::Create();
  REQUIRE(ca.ok());
  return std::move(*ca);
}

inline mesh::NodeKeys NewKeys() {
  auto keys = mesh::GenerateNodeKeys();
  REQUIRE(keys.ok());
  return std::move(*keys);
}

// An unsigned certificate for `keys`, valid kIssuedNs..kExpiresNs.
inline mesh::NodeCertificate CertFor(const mesh::NodeKeys& keys, std::string name = "rpi-1") {
  mesh::NodeCertificate c;
  c.node_id = "n-" + name;
  c.name = std::move(name);
  c.role = mesh::NodeRole::kWorker;
  c.labels = {{"arch", "arm64"}, {"zone", "shelf-2"}};
  c.signing_key = keys.signing.public_key;
  c.curve_key = keys.curve.public_key;
  c.not_before_ns = kIssuedNs;
  c.not_after_ns = kExpiresNs;
  return c;
}

inline mesh::NodeCertificate SignedCertFor(const mesh::CertificateAuthority& ca,
                                           const mesh::NodeKeys& keys, std::string name = "rpi-1") {
  mesh::NodeCertificate c = CertFor(keys, std::move(name));
  REQUIRE(ca.SignCertificate(c).ok());
  return c;
}

// A signed list of `n` members on 10.0.0.x.
inline mesh::MemberList SignedList(const mesh::CertificateAuthority& ca, int n,
                                   std::uint64_t epoch = 7) {
  mesh::MemberList l;
  l.epoch = epoch;
  l.issued_ns = kIssuedNs;
  for (int i = 0; i < n; ++i) {
    mesh::Member m;
    m.node_id = "n-" + std::to_string(i);
    m.name = i == 0 ? "primary-gpu" : "rpi-" + std::to_string(i);
    m.role = i == 0 ? mesh::NodeRole::kPrimary : mesh::NodeRole::kWorker;
    m.signing_key.fill(static_cast<std::uint8_t>(i));
    m.curve_key.fill(static_cast<std::uint8_t>(i));
    m.curve_key[0] = static_cast<std::uint8_t>(i >> 8);
    m.curve_key[1] = static_cast<std::uint8_t>(i & 0xff);
    m.endpoint =
        "tcp://10.0." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250) + ":7946";
    l.members.push_back(m);
  }
  REQUIRE(ca.SignMemberList(l).ok());
  return l;
}

}  // namespace mesh_test
