#include "images/store.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "layer_builder.h"
#include "test_support.h"

using namespace images::testing;

namespace {

bool HaveTools(std::string& missing) {
  for (const char* p : {"skopeo", "tar2sqfs", "sqfs2tar"})
    if (!HaveProgram(p)) {
      missing = std::string(p) + " not installed";
      return false;
    }
  return true;
}

std::vector<std::vector<TarEntry>> BusyboxLike(const std::string& arch) {
  return {
      {Dir("bin"), File("bin/busybox", "BUSYBOX-" + arch, 0755), Hardlink("bin/sh", "bin/busybox"),
       Dir("etc"), File("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n"),
       File("etc/group", "root:x:0:\napp:x:1000:\nvideo:x:44:app\n"), File("etc/motd", "old")},
      {Whiteout("etc/motd"), File("etc/hello", "hello " + arch)},
  };
}

std::unique_ptr<images::ImageStore> OpenStore(const std::string& dir) {
  auto s = images::ImageStore::Open(dir);
  REQUIRE(s.ok());
  return std::move(*s);
}

}  // namespace

TEST_CASE("store: load a multi-platform OCI layout, resolve, serve, remove", "[images][store]") {
  std::string missing;
  if (!HaveTools(missing)) SKIP_TEST(missing);
  ScratchDir dir;
  TestPlatform amd64;
  amd64.layers = BusyboxLike("amd64");
  amd64.user = "app";
  TestPlatform arm64;
  arm64.architecture = "arm64";
  arm64.variant = "v8";
  arm64.layers = BusyboxLike("arm64");
  arm64.user = "nobody2";
  const auto digests = WriteOciLayout(dir / "layout", {amd64, arm64}, "example/busybox:1.36");

  auto store = OpenStore(dir / "store");
  std::vector<std::string> progress;
  images::LoadOptions opts;
  opts.progress = [&](std::string_view line) { progress.emplace_back(line); };
  auto rec = store->Load(dir / "layout", opts);
  REQUIRE(rec.ok());
  CHECK(rec->name == "example/busybox");
  CHECK(rec->tag == "1.36");
  CHECK(rec->digest == digests.top);
  REQUIRE(rec->platforms.size() == 2);
  const auto& a = rec->platforms[0];
  const auto& b = rec->platforms[1];
  CHECK(a.PlatformString() == "linux/amd64");
  CHECK(b.PlatformString() == "linux/arm64/v8");
  CHECK(a.manifest_digest == digests.manifests[0]);
  CHECK(a.layers == digests.layers[0]);
  CHECK(a.config.cmd == std::vector<std::string>{"/bin/sh"});
  CHECK(a.user_error.empty());
  CHECK(a.user == images::ResolvedUser{1000, 1000, {44}});
  CHECK(b.user_error.find("user 'nobody2' not in the image's /etc/passwd") != std::string::npos);
  CHECK(a.compressed_size > 0);
  CHECK(a.squashfs_digest != b.squashfs_digest);
  bool saw_build = false;
  for (const auto& l : progress)
    saw_build = saw_build || l == "building squashfs linux/arm64/v8 (gzip)";
  CHECK(saw_build);

  auto path = store->SquashfsPath(b.squashfs_digest);
  REQUIRE(path.ok());
  CHECK(Sha(ReadFile(*path)) == b.squashfs_digest);
  CHECK(b.squashfs_size == ReadFile(*path).size());
  REQUIRE(Shell("sqfs2tar '" + *path + "' > '" + (dir / "b.tar") + "' 2>/dev/null") == 0);
  const auto files = ReadTar(dir / "b.tar");
  CHECK(files.at("etc/hello").data == "hello arm64");
  CHECK(files.count("etc/motd") == 0);
  CHECK(store->SquashfsPath("sha256:" + std::string(64, '0')).status().code() ==
        mesh::StatusCode::kNotFound);

  // Resolve by name:tag, top digest, platform manifest digest; unknown names.
  CHECK(store->Resolve("example/busybox:1.36").ok());
  CHECK(store->Resolve("example/busybox@" + digests.top).ok());
  CHECK(store->Resolve("example/busybox@" + digests.manifests[1]).ok());
  auto unknown = store->Resolve("alpine:3.19");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == mesh::StatusCode::kNotFound);
  CHECK(unknown.status().message() ==
        "image alpine:3.19: not found on the GPU peer (loaded: example/busybox:1.36)");
  CHECK(store->Resolve("example/busybox").status().code() ==
        mesh::StatusCode::kNotFound);  // :latest

  // A second store over the same directory sees the record (index.json).
  {
    auto again = OpenStore(dir / "store");
    REQUIRE(again->List().size() == 1);
    CHECK(again->List()[0].platforms[1].user_error == b.user_error);
  }

  // Another name for the same image shares blobs and squashfs; removing one keeps them.
  images::LoadOptions renamed;
  renamed.name = "copy:1";
  auto copy = store->Load(dir / "layout", renamed);
  REQUIRE(copy.ok());
  CHECK(copy->platforms[0].squashfs_digest == a.squashfs_digest);
  CHECK(store->List().size() == 2);
  REQUIRE(store->Remove("example/busybox:1.36").ok());
  CHECK(store->SquashfsPath(a.squashfs_digest).ok());
  CHECK(std::filesystem::exists(store->dir() + "/blobs/sha256/" + digests.layers[0][0].substr(7)));
  REQUIRE(store->Remove("copy:1").ok());
  CHECK(store->List().empty());
  CHECK(ListDir(store->dir() + "/blobs/sha256").empty());
  CHECK(ListDir(store->dir() + "/squashfs").empty());
  CHECK(ListDir(store->dir() + "/tmp").empty());
  CHECK(store->Remove("copy:1").code() == mesh::StatusCode::kNotFound);
}

TEST_CASE("store: loading the same name:tag replaces the record and drops unused files",
          "[images][store]") {
  std::string missing;
  if (!HaveTools(missing)) SKIP_TEST(missing);
  ScratchDir dir;
  TestPlatform v1;
  v1.layers = {{File("version", "1")}};
  TestPlatform v2;
  v2.layers = {{File("version", "2")}};
  WriteOciLayout(dir / "v1", {v1}, "app:latest");
  WriteOciLayout(dir / "v2", {v2}, "app:latest");
  auto store = OpenStore(dir / "store");
  auto r1 = store->Load(dir / "v1");
  REQUIRE(r1.ok());
  auto r2 = store->Load(dir / "v2");
  REQUIRE(r2.ok());
  REQUIRE(store->List().size() == 1);
  CHECK(store->Resolve("app")->digest == r2->digest);
  CHECK_FALSE(store->SquashfsPath(r1->platforms[0].squashfs_digest).ok());
  CHECK(ListDir(store->dir() + "/squashfs").size() == 1);
  CHECK(ListDir(store->dir() + "/blobs/sha256").size() == r2->blobs.size());
}

TEST_CASE("store: bad blobs and diff_ids are refused and leave nothing behind", "[images][store]") {
  std::string missing;
  if (!HaveTools(missing)) SKIP_TEST(missing);
  ScratchDir dir;
  auto store = OpenStore(dir / "store");
  TestPlatform good;
  good.layers = {{File("a", "a")}, {File("b", "b")}};
  WriteOciLayout(dir / "good", {good}, "good:1");
  REQUIRE(store->Load(dir / "good").ok());
  const std::string index_before = ReadFile(store->dir() + "/index.json");
  const auto blobs_before = ListDir(store->dir() + "/blobs/sha256");

  const auto check_nothing_left = [&] {
    CHECK(ReadFile(store->dir() + "/index.json") == index_before);
    CHECK(ListDir(store->dir() + "/blobs/sha256") == blobs_before);
    CHECK(ListDir(store->dir() + "/squashfs").size() == 1);
    CHECK(ListDir(store->dir() + "/tmp").empty());
    CHECK(store->List().size() == 1);
  };

  SECTION("a layer blob whose bytes do not match its digest") {
    TestPlatform p;
    p.layers = {{File("a", "a")}, {File("x", "x")}};
    const auto d = WriteOciLayout(dir / "bad", {p}, "bad:1");
    WriteFile(dir / "bad/blobs/sha256/" + d.layers[0][1].substr(7),
              TarBytes({File("x", "tampered")}, true));
    auto r = store->Load(dir / "bad");
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().message().find("igest") != std::string::npos);  // skopeo's or ours
    check_nothing_left();
  }
  SECTION("a layer whose diff_id does not match the config") {
    TestPlatform p;
    p.architecture = "arm64";
    p.layers = {{File("a", "a")}, {File("x", "x")}};
    p.wrong_diff_id = true;
    WriteOciLayout(dir / "bad", {p}, "bad:1");
    auto r = store->Load(dir / "bad");
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().code() == mesh::StatusCode::kCorrupt);
    CHECK(r.status().message().find("layer 1 of linux/arm64: diff_id mismatch") !=
          std::string::npos);
    check_nothing_left();
  }
  SECTION("a layer with a '..' entry") {
    TestPlatform p;
    p.layers = {{File("../../etc/cron.d/x", "x")}};
    WriteOciLayout(dir / "bad", {p}, "bad:1");
    auto r = store->Load(dir / "bad");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("'..'") != std::string::npos);
    check_nothing_left();
  }
  SECTION("an image without a name, and no --name") {
    WriteOciLayout(dir / "noname", {good}, "");
    auto r = store->Load(dir / "noname");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
    CHECK(r.status().message().find("--name") != std::string::npos);
    check_nothing_left();
  }
  SECTION("not an image at all") {
    WriteFile(dir / "junk.tar", TarBytes({File("hello", "x")}, false));
    auto r = store->Load(dir / "junk.tar");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == mesh::StatusCode::kInvalidArgument);
    check_nothing_left();
  }
}

TEST_CASE("store: Open removes leftovers of crashed imports", "[images][store]") {
  ScratchDir dir;
  { auto store = OpenStore(dir / "store"); }
  WriteFile(dir / "store/tmp/import-abc/layout/blobs/sha256/x", "x");
  WriteFile(dir / "store/index.json.tmp", "partial");
  WriteFile(dir / "store/squashfs/abc.sqfs.tmp", "partial");
  auto store = OpenStore(dir / "store");
  CHECK(ListDir(store->dir() + "/tmp").empty());
  CHECK(ListDir(store->dir() + "/squashfs").empty());
  CHECK_FALSE(std::filesystem::exists(store->dir() + "/index.json.tmp"));
  CHECK(store->List().empty());
  // A damaged index is an error, not an empty store.
  WriteFile(dir / "store/index.json", "{nope");
  CHECK(images::ImageStore::Open(dir / "store").status().code() == mesh::StatusCode::kCorrupt);
}

namespace {

int FreeLoopbackPort() {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  close(s);
  return ntohs(addr.sin_port);
}

bool PortOpen(int port) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(s);
  return ok;
}

}  // namespace

TEST_CASE("store: pull from a local registry on loopback", "[images][store][slow]") {
  std::string missing;
  if (!HaveTools(missing)) SKIP_TEST(missing);
  if (access("/usr/bin/docker-registry", X_OK) != 0)
    SKIP_TEST("docker-registry (Debian package) not installed");
  ScratchDir dir;
  const int port = FreeLoopbackPort();
  WriteFile(dir / "registry.yml",
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            "    rootdirectory: " +
                (dir / "registry") + "\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port) + "\n");
  const pid_t registry = fork();
  REQUIRE(registry >= 0);
  if (registry == 0) {
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    execl("/usr/bin/docker-registry", "docker-registry", "serve", (dir / "registry.yml").c_str(),
          nullptr);
    _exit(127);
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } reaper{registry};
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = PortOpen(port);
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(up);

  TestPlatform amd64;
  amd64.layers = BusyboxLike("amd64");
  TestPlatform arm64;
  arm64.architecture = "arm64";
  arm64.layers = BusyboxLike("arm64");
  WriteOciLayout(dir / "layout", {amd64, arm64}, "");
  const std::string ref = "127.0.0.1:" + std::to_string(port) + "/test:1";
  REQUIRE(Shell("skopeo copy --quiet --all --dest-tls-verify=false oci:" + (dir / "layout") +
                " docker://" + ref + " >/dev/null 2>&1") == 0);

  auto store = OpenStore(dir / "store");
  images::PullOptions opts;
  opts.tls_verify = false;
  auto rec = store->Pull(ref, opts);
  REQUIRE(rec.ok());
  CHECK(rec->name == "127.0.0.1:" + std::to_string(port) + "/test");
  CHECK(rec->tag == "1");
  REQUIRE(rec->platforms.size() == 2);
  CHECK(rec->platforms[1].architecture == "arm64");
  CHECK(store->Resolve(ref).ok());
  CHECK(store->SquashfsPath(rec->platforms[0].squashfs_digest).ok());

  auto missing_tag = store->Pull("127.0.0.1:" + std::to_string(port) + "/test:2", opts);
  REQUIRE_FALSE(missing_tag.ok());
  CHECK(ListDir(store->dir() + "/tmp").empty());
}

TEST_CASE("store: docker-archive and oci-archive inputs, named from the archive",
          "[images][store]") {
  std::string missing;
  if (!HaveTools(missing)) SKIP_TEST(missing);
  ScratchDir dir;
  TestPlatform p;
  p.layers = BusyboxLike("amd64");
  WriteOciLayout(dir / "layout", {p}, "");
  REQUIRE(Shell("skopeo copy --quiet oci:" + (dir / "layout") +
                " docker-archive:" + (dir / "d.tar") + ":team/tool:2 >/dev/null 2>&1") == 0);
  REQUIRE(Shell("skopeo copy --quiet oci:" + (dir / "layout") + " oci-archive:" + (dir / "o.tar") +
                ":team/tool:3 >/dev/null 2>&1") == 0);
  auto store = OpenStore(dir / "store");
  auto d = store->Load(dir / "d.tar");
  REQUIRE(d.ok());
  CHECK(d->RefString() == "team/tool:2");
  auto o = store->Load(dir / "o.tar");
  INFO(o.status().message());
  REQUIRE(o.ok());
  CHECK(o->RefString() == "team/tool:3");
  // Same layers, same merged tree: the same squashfs bytes whatever the input format.
  CHECK(d->platforms[0].squashfs_digest == o->platforms[0].squashfs_digest);
  CHECK(d->platforms[0].user == images::ResolvedUser{0, 0, {}});
}
