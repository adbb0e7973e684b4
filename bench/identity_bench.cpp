// identity_bench: cost of the certificate and member-list operations, with
// raw libsodium Ed25519 sign/verify of the same bytes measured in the same run
// as the baseline (the difference is our encoding and checks).
//
//   identity_bench [--iterations N] [--output FILE]
//
// Prints a table (median and p99 per operation, µs) and writes JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "mesh/certificate_authority.h"
#include "mesh/identity_store.h"
#include "mesh/member_list.h"

namespace {

struct Row {
  std::string name;
  double p50_us;
  double p99_us;
  int iterations;
};

Row Measure(const std::string& name, int iterations, const std::function<void()>& op) {
  for (int i = 0; i < std::min(iterations / 10 + 1, 100); ++i) op();  // warm up
  std::vector<double> us;
  us.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    op();
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {name, us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], iterations};
}

void Must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "identity_bench: %s failed\n", what);
    std::exit(1);
  }
}

mesh::MemberList List(int n) {
  mesh::MemberList l;
  l.epoch = 1;
  l.issued_ns = 1'795'687'200'000'000'000;
  for (int i = 0; i < n; ++i) {
    mesh::Member m{"n-" + std::to_string(i),
                   "rpi-" + std::to_string(i),
                   mesh::NodeRole::kWorker,
                   {},
                   {},
                   "tcp://10.0.0." + std::to_string(1 + i % 250) + ":7946"};
    m.curve_key[0] = static_cast<std::uint8_t>(i);
    m.curve_key[1] = static_cast<std::uint8_t>(i >> 8);
    l.members.push_back(m);
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 2000;
  std::string output;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
      iterations = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--output") && i + 1 < argc) {
      output = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N] [--output FILE]\n", argv[0]);
      return 2;
    }
  }
  if (iterations < 1) iterations = 1;

  auto ca = mesh::CertificateAuthority::Create();
  auto keys = mesh::GenerateNodeKeys();
  Must(ca.ok() && keys.ok(), "key generation");
  mesh::NodeCertificate cert;
  cert.node_id = "n-rpi-1";
  cert.name = "rpi-1";
  cert.labels = {{"arch", "arm64"}, {"zone", "shelf-2"}};
  cert.signing_key = keys->signing.public_key;
  cert.curve_key = keys->curve.public_key;
  cert.not_before_ns = 1'795'687'200'000'000'000;
  cert.not_after_ns = 1'795'773'600'000'000'000;
  Must(ca->SignCertificate(cert).ok(), "sign");
  const std::string cert_bytes = *mesh::EncodeCertificate(cert);
  const std::string signed_bytes = *mesh::CertificateSignedBytes(cert);
  const std::int64_t now = cert.not_before_ns + 1;

  std::vector<Row> rows;
  // Baseline: libsodium alone over the same signed bytes.
  rows.push_back(Measure("ed25519 sign (baseline)", iterations, [&] {
    Must(mesh::Sign(ca->signing_keys().secret_key, signed_bytes).ok(), "raw sign");
  }));
  rows.push_back(Measure("ed25519 verify (baseline)", iterations, [&] {
    Must(mesh::VerifySignature(ca->public_keys().signing_key, signed_bytes, cert.signature).ok(),
         "raw verify");
  }));
  rows.push_back(Measure("certificate sign (CA)", iterations, [&] {
    mesh::NodeCertificate c = cert;
    Must(ca->SignCertificate(c).ok(), "sign");
  }));
  rows.push_back(Measure("certificate verify", iterations, [&] {
    Must(mesh::VerifyCertificate(ca->public_keys(), cert, now).ok(), "verify");
  }));
  rows.push_back(Measure("certificate decode + verify", iterations, [&] {
    auto c = mesh::DecodeCertificate(cert_bytes);
    Must(c.ok() && mesh::VerifyCertificate(ca->public_keys(), *c, now).ok(), "decode+verify");
  }));
  rows.push_back(Measure("certificate encode + decode", iterations, [&] {
    Must(mesh::DecodeCertificate(*mesh::EncodeCertificate(cert)).ok(), "codec");
  }));
  for (int n : {10, 100}) {
    mesh::MemberList l = List(n);
    Must(ca->SignMemberList(l).ok(), "sign list");
    const std::string bytes = *mesh::EncodeMemberList(l);
    rows.push_back(Measure("member list sign (" + std::to_string(n) + ")", iterations, [&] {
      mesh::MemberList copy = l;
      Must(ca->SignMemberList(copy).ok(), "sign list");
    }));
    rows.push_back(
        Measure("member list decode + verify (" + std::to_string(n) + ")", iterations, [&] {
          auto d = mesh::DecodeMemberList(bytes);
          Must(d.ok() && mesh::VerifyMemberList(ca->public_keys(), *d).ok(), "verify list");
        }));
  }
  rows.push_back(Measure("node identity decode (load checks)", std::max(1, iterations / 4), [&] {
    static const std::string id =
        *mesh::EncodeNodeIdentity(mesh::NodeIdentity{*keys, cert, ca->public_keys()});
    Must(mesh::DecodeNodeIdentity(id).ok(), "identity decode");
  }));

  std::printf("%-40s %10s %10s %8s\n", "operation", "p50 us", "p99 us", "n");
  for (const Row& r : rows)
    std::printf("%-40s %10.2f %10.2f %8d\n", r.name.c_str(), r.p50_us, r.p99_us, r.iterations);

  if (!output.empty()) {
    FILE* f = std::fopen(output.c_str(), "w");
    if (f == nullptr) {
      std::perror(output.c_str());
      return 1;
    }
    std::fprintf(f, "{\"benchmark\":\"identity_bench\",\"results\":[");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::fprintf(f, "%s{\"name\":\"%s\",\"p50_us\":%.3f,\"p99_us\":%.3f,\"iterations\":%d}",
                   i ? "," : "", rows[i].name.c_str(), rows[i].p50_us, rows[i].p99_us,
                   rows[i].iterations);
    }
    std::fprintf(f, "]}\n");
    std::fclose(f);
  }
  return 0;
}
