// Writes the seed corpora for the fuzz targets: valid envelopes of every type,
// certificates, member lists and identity files. Usage:
//   fuzz_seeds <dir>   (creates <dir>/envelope and <dir>/identity)
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "mesh/atomic_file.h"
#include "mesh/certificate_authority.h"
#include "mesh/envelope.h"
#include "mesh/identity_store.h"

namespace {

void Put(const std::string& path, const mesh::Result<std::string>& bytes) {
  if (!bytes.ok() || !mesh::WriteFileAtomic(path, *bytes, 0644).ok()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  ::mkdir(dir.c_str(), 0755);
  ::mkdir((dir + "/envelope").c_str(), 0755);
  ::mkdir((dir + "/identity").c_str(), 0755);

  for (std::uint16_t t = 1; t <= mesh::kLastMsgType; ++t) {
    mesh::Envelope e;
    e.type = static_cast<mesh::MsgType>(t);
    e.sender = "rpi-" + std::to_string(t);
    e.seq = t;
    e.sent_ns = 1'764'000'000'000'000'000LL;
    e.payload.assign(t * 3, 'p');
    Put(dir + "/envelope/type-" + std::to_string(t), mesh::Encode(e));
  }

  auto ca = mesh::CertificateAuthority::Create();
  auto keys = mesh::GenerateNodeKeys();
  if (!ca.ok() || !keys.ok()) return 1;
  mesh::NodeCertificate cert;
  cert.node_id = "n-rpi-1";
  cert.name = "rpi-1";
  cert.labels = {{"arch", "arm64"}, {"zone", "shelf-2"}};
  cert.signing_key = keys->signing.public_key;
  cert.curve_key = keys->curve.public_key;
  cert.not_before_ns = 1'795'687'200'000'000'000;
  cert.not_after_ns = 1'795'773'600'000'000'000;
  if (!ca->SignCertificate(cert).ok()) return 1;
  Put(dir + "/identity/certificate", mesh::EncodeCertificate(cert));

  mesh::MemberList list;
  list.epoch = 3;
  list.issued_ns = cert.not_before_ns;
  list.members.push_back(mesh::MemberFromCertificate(cert, "tcp://10.0.0.2:7946"));
  mesh::Member primary{"n-primary",
                       "primary-gpu",
                       mesh::NodeRole::kPrimary,
                       ca->public_keys().signing_key,
                       ca->public_keys().curve_key,
                       "tcp://[fd00::1]:7946"};
  list.members.push_back(primary);
  if (!ca->SignMemberList(list).ok()) return 1;
  Put(dir + "/identity/member-list", mesh::EncodeMemberList(list));

  mesh::NodeIdentity id{*keys, cert, ca->public_keys()};
  Put(dir + "/identity/node-identity", mesh::EncodeNodeIdentity(id));
  Put(dir + "/identity/ca-identity", mesh::EncodeCaIdentity(*ca));
  return 0;
}
