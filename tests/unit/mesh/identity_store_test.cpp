#include "mesh/identity_store.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "identity_fixtures.h"
#include "mesh/atomic_file.h"

using mesh::StatusCode;
using mesh_test::TempDir;

namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

mesh::NodeIdentity NewIdentity(const mesh::CertificateAuthority& ca) {
  mesh::NodeIdentity id;
  id.keys = mesh_test::NewKeys();
  id.certificate = mesh_test::SignedCertFor(ca, id.keys);
  id.ca = ca.public_keys();
  return id;
}

// Limits file size for this process while in scope; writes past it fail with
// EFBIG instead of raising SIGXFSZ.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_) == 0);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim = old_;
    lim.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

}  // namespace

TEST_CASE("AtomicFile: writes exactly the mode asked, whatever the umask", "[mesh][files]") {
  TempDir dir;
  const mode_t old_umask = ::umask(0);
  REQUIRE(mesh::WriteFileAtomic(dir / "secret", "key bytes", 0600).ok());
  ::umask(old_umask);
  CHECK(ModeOf(dir / "secret") == 0600);
  CHECK(Slurp(dir / "secret") == "key bytes");
  REQUIRE(mesh::WriteFileAtomic(dir / "public", "hello", 0644).ok());
  CHECK(ModeOf(dir / "public") == 0644);
  CHECK(dir.List() == std::vector<std::string>{"public", "secret"});
}

TEST_CASE("AtomicFile: replaces content and leaves no temporary behind", "[mesh][files]") {
  TempDir dir;
  REQUIRE(mesh::WriteFileAtomic(dir / "f", "old", 0600).ok());
  REQUIRE(mesh::WriteFileAtomic(dir / "f", std::string(100'000, 'n'), 0600).ok());
  CHECK(Slurp(dir / "f") == std::string(100'000, 'n'));
  REQUIRE(mesh::WriteFileAtomic(dir / "f", "", 0600).ok());
  CHECK(Slurp(dir / "f").empty());
  CHECK(dir.List() == std::vector<std::string>{"f"});
}

TEST_CASE("AtomicFile: a failed write leaves the old file intact", "[mesh][files]") {
  TempDir dir;
  REQUIRE(mesh::WriteFileAtomic(dir / "node.identity", "the old identity", 0600).ok());
  mesh::Status s;
  {
    FileSizeLimit limit(4096);  // the new content cannot be written in full
    s = mesh::WriteFileAtomic(dir / "node.identity", std::string(10'000, 'x'), 0600);
  }
  CHECK(s.code() == StatusCode::kIoError);
  CHECK_THAT(s.message(), Catch::Contains("write"));
  CHECK(Slurp(dir / "node.identity") == "the old identity");
  CHECK(dir.List() == std::vector<std::string>{"node.identity"});
}

TEST_CASE("AtomicFile: a missing directory fails cleanly", "[mesh][files]") {
  TempDir dir;
  auto s = mesh::WriteFileAtomic(dir / "missing/f", "x", 0600);
  CHECK(s.code() == StatusCode::kNotFound);
  CHECK(dir.List().empty());
  CHECK(mesh::WriteFileAtomic("", "x", 0600).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("AtomicFile: bounded reads", "[mesh][files]") {
  TempDir dir;
  REQUIRE(mesh::WriteFileAtomic(dir / "f", "12345", 0600).ok());
  CHECK(*mesh::ReadFileLimited(dir / "f", 5) == "12345");
  CHECK(mesh::ReadFileLimited(dir / "f", 4).status().code() == StatusCode::kCorrupt);
  CHECK(mesh::ReadFileLimited(dir / "nope", 4).status().code() == StatusCode::kNotFound);
  CHECK(mesh::ReadFileLimited(dir.path(), 4).status().code() == StatusCode::kInvalidArgument);
  CHECK(mesh::EnsureDirectory(dir / "sub", 0700).ok());
  CHECK(mesh::EnsureDirectory(dir / "sub", 0700).ok());
  CHECK(mesh::EnsureDirectory(dir / "f", 0700).code() == StatusCode::kAlreadyExists);
}

TEST_CASE("Identity: node identity saves 0600 and loads back", "[mesh][identity]") {
  TempDir dir;
  const auto ca = mesh_test::NewCa();
  const auto id = NewIdentity(ca);
  const std::string state = dir / "state";
  REQUIRE(mesh::SaveNodeIdentity(state, id).ok());
  CHECK(ModeOf(state) == 0700);
  CHECK(ModeOf(state + "/" + mesh::kNodeIdentityFileName) == 0600);
  auto back = mesh::LoadNodeIdentity(state);
  REQUIRE(back.ok());
  CHECK(*back == id);
  CHECK(mesh::VerifyCertificate(back->ca, back->certificate, mesh_test::kIssuedNs).ok());
  // Saving again replaces it atomically.
  const auto id2 = NewIdentity(ca);
  REQUIRE(mesh::SaveNodeIdentity(state, id2).ok());
  CHECK(*mesh::LoadNodeIdentity(state) == id2);
}

TEST_CASE("Identity: CA identity saves and loads the same CA", "[mesh][identity]") {
  TempDir dir;
  const auto ca = mesh_test::NewCa();
  REQUIRE(mesh::SaveCaIdentity(dir.path(), ca).ok());
  CHECK(ModeOf(dir / mesh::kCaIdentityFileName) == 0600);
  auto back = mesh::LoadCaIdentity(dir.path());
  REQUIRE(back.ok());
  CHECK(back->fingerprint() == ca.fingerprint());
  CHECK(back->public_keys() == ca.public_keys());
  CHECK(back->curve_keys() == ca.curve_keys());
  // The loaded CA signs certificates the original's public keys accept.
  const auto cert = mesh_test::SignedCertFor(*back, mesh_test::NewKeys());
  CHECK(mesh::VerifyCertificate(ca.public_keys(), cert, mesh_test::kIssuedNs).ok());
}

TEST_CASE("Identity: an expired certificate still loads", "[mesh][identity]") {
  TempDir dir;
  const auto ca = mesh_test::NewCa();
  const auto id = NewIdentity(ca);
  REQUIRE(mesh::SaveNodeIdentity(dir.path(), id).ok());
  auto back = mesh::LoadNodeIdentity(dir.path());
  REQUIRE(back.ok());
  CHECK(mesh::CheckCertificate(back->ca, back->certificate, mesh_test::kExpiresNs).verdict ==
        mesh::CertificateVerdict::kExpired);
}

TEST_CASE("Identity: every truncation and byte flip of a file is Corrupt", "[mesh][identity]") {
  const auto ca = mesh_test::NewCa();
  const std::string node_bytes = *mesh::EncodeNodeIdentity(NewIdentity(ca));
  const std::string ca_bytes = *mesh::EncodeCaIdentity(ca);
  for (const bool node : {true, false}) {
    const std::string& good = node ? node_bytes : ca_bytes;
    auto decode = [&](std::string_view b) {
      return node ? mesh::DecodeNodeIdentity(b).status() : mesh::DecodeCaIdentity(b).status();
    };
    REQUIRE(decode(good).ok());
    for (std::size_t n = 0; n < good.size(); ++n) {
      INFO((node ? "node" : "CA") << " file truncated to " << n);
      CHECK(decode(std::string_view(good).substr(0, n)).code() == StatusCode::kCorrupt);
    }
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (std::uint8_t mask : {0x01, 0x80}) {
        INFO((node ? "node" : "CA") << " file byte " << i << " ^ " << int(mask));
        std::string b = good;
        b[i] = static_cast<char>(b[i] ^ mask);
        CHECK(decode(b).code() == StatusCode::kCorrupt);
      }
    }
  }
}

TEST_CASE("Identity: a damaged file on disk names itself", "[mesh][identity]") {
  TempDir dir;
  const auto ca = mesh_test::NewCa();
  REQUIRE(mesh::SaveNodeIdentity(dir.path(), NewIdentity(ca)).ok());
  REQUIRE(mesh::SaveCaIdentity(dir.path(), ca).ok());
  for (const char* name : {mesh::kNodeIdentityFileName, mesh::kCaIdentityFileName}) {
    const std::string path = dir / name;
    const std::string good = Slurp(path);
    const bool node = std::string(name) == mesh::kNodeIdentityFileName;
    auto load = [&] {
      return node ? mesh::LoadNodeIdentity(dir.path()).status()
                  : mesh::LoadCaIdentity(dir.path()).status();
    };
    for (const std::string& damaged :
         {good.substr(0, good.size() / 2), good.substr(1), std::string(1, '\0')}) {
      REQUIRE(mesh::WriteFileAtomic(path, damaged, 0600).ok());
      auto s = load();
      CHECK(s.code() == StatusCode::kCorrupt);
      CHECK_THAT(s.message(), Catch::Contains(path));
    }
    REQUIRE(mesh::WriteFileAtomic(path, good, 0600).ok());
    CHECK(load().ok());
  }
}

TEST_CASE("Identity: inconsistent contents are refused even with a good checksum",
          "[mesh][identity]") {
  const auto ca = mesh_test::NewCa();
  mesh::NodeIdentity id = NewIdentity(ca);
  // A certificate for someone else's keys.
  mesh::NodeIdentity stolen = id;
  stolen.certificate = mesh_test::SignedCertFor(ca, mesh_test::NewKeys());
  auto r = mesh::DecodeNodeIdentity(*mesh::EncodeNodeIdentity(stolen));
  CHECK(r.status().code() == StatusCode::kCorrupt);
  CHECK_THAT(r.status().message(), Catch::Contains("not this node's key"));
  // A pinned CA that did not sign the certificate.
  mesh::NodeIdentity repinned = id;
  repinned.ca = mesh_test::NewCa().public_keys();
  r = mesh::DecodeNodeIdentity(*mesh::EncodeNodeIdentity(repinned));
  CHECK(r.status().code() == StatusCode::kCorrupt);
  CHECK_THAT(r.status().message(), Catch::Contains("pinned CA"));
  // A CA file is not a node file and vice versa.
  CHECK(mesh::DecodeNodeIdentity(*mesh::EncodeCaIdentity(ca)).status().code() ==
        StatusCode::kCorrupt);
  CHECK(mesh::DecodeCaIdentity(*mesh::EncodeNodeIdentity(id)).status().code() ==
        StatusCode::kCorrupt);
}

TEST_CASE("Identity: files others can read are refused, missing is NotFound", "[mesh][identity]") {
  TempDir dir;
  const auto ca = mesh_test::NewCa();
  CHECK(mesh::LoadNodeIdentity(dir.path()).status().code() == StatusCode::kNotFound);
  CHECK(mesh::LoadCaIdentity(dir.path()).status().code() == StatusCode::kNotFound);
  REQUIRE(mesh::SaveCaIdentity(dir.path(), ca).ok());
  REQUIRE(::chmod((dir / mesh::kCaIdentityFileName).c_str(), 0644) == 0);
  auto r = mesh::LoadCaIdentity(dir.path());
  CHECK(r.status().code() == StatusCode::kPermissionDenied);
  CHECK_THAT(r.status().message(), Catch::Contains("mode 0644") && Catch::Contains("chmod 600"));
}
