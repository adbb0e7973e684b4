#include "images/squashfs.h"

#include <catch2/catch.hpp>

#include "layer_builder.h"
#include "test_support.h"

using namespace images::testing;
using Type = images::testing::TarEntry::Type;

namespace {

bool HaveSquashfsTools() { return HaveProgram("tar2sqfs") && HaveProgram("sqfs2tar"); }

std::vector<std::string> WriteLayers(const ScratchDir& dir,
                                     const std::vector<std::vector<TarEntry>>& layers) {
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    paths.push_back(dir / ("layer" + std::to_string(i) + ".tar.gz"));
    WriteFile(paths.back(), TarBytes(layers[i], true));
  }
  return paths;
}

// The squashfs image's content, as sqfs2tar sees it.
std::map<std::string, ReadEntry> Contents(const ScratchDir& dir, const std::string& image) {
  const std::string tar = dir / "contents.tar";
  REQUIRE(Shell("sqfs2tar '" + image + "' > '" + tar + "' 2>/dev/null") == 0);
  return ReadTar(tar);
}

std::vector<std::vector<TarEntry>> SampleLayers() {
  TarEntry suid = File("bin/su", "SU", 04755);
  TarEntry dev;
  dev.path = "dev/null";
  dev.type = Type::kChar;
  dev.mode = 0666;
  dev.dev_major = 1;
  dev.dev_minor = 3;
  TarEntry owned = File("home/app/f", "f", 0600);
  owned.uid = 1000;
  owned.gid = 1000;
  return {
      {Dir("bin"), File("bin/busybox", "BUSYBOX", 0755), Hardlink("bin/sh", "bin/busybox"), suid,
       Dir("dev"), dev, Dir("etc"),
       File("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n"),
       File("etc/group", "root:x:0:\napp:x:1000:\n"), Dir("opt"), File("opt/old", "o"),
       Dir("tmp", 01777)},
      {Hardlink("bin/ls", "bin/busybox"), Symlink("bin/abs", "/bin/busybox"), Opaque("opt"),
       File("opt/new", "n"), Whiteout("bin/su2"), owned},
  };
}

}  // namespace

TEST_CASE("squashfs: merged layers, verified through sqfs2tar", "[images][squashfs]") {
  if (!HaveSquashfsTools()) SKIP_TEST("tar2sqfs/sqfs2tar (squashfs-tools-ng) not installed");
  ScratchDir dir;
  const auto layers = WriteLayers(dir, SampleLayers());
  auto info = images::BuildSquashfs(layers, dir / "image.sqfs");
  REQUIRE(info.ok());
  CHECK(info->digest == Sha(ReadFile(dir / "image.sqfs")));
  CHECK(info->size == ReadFile(dir / "image.sqfs").size());
  CHECK(info->size % 4096 == 0);
  REQUIRE(info->passwd);
  CHECK(info->passwd->find("app:x:1000") != std::string::npos);
  CHECK(ListDir(dir.path()) ==
        std::vector<std::string>{"image.sqfs", "layer0.tar.gz", "layer1.tar.gz"});

  const auto c = Contents(dir, dir / "image.sqfs");
  CHECK(c.at("bin/su").mode == 04755);
  CHECK(c.at("tmp").mode == 01777);
  CHECK(c.at("dev/null").type == Type::kChar);
  CHECK(c.at("dev/null").dev_major == 1);
  CHECK(c.at("dev/null").dev_minor == 3);
  CHECK(c.at("bin/abs").link == "/bin/busybox");
  CHECK(c.at("home/app/f").uid == 1000);
  CHECK(c.count("opt/old") == 0);
  CHECK(c.at("opt/new").data == "n");
  // busybox, ls and sh are one inode: one carries data, the others link to it.
  int with_data = 0;
  for (const char* name : {"bin/busybox", "bin/ls", "bin/sh"}) {
    const auto& e = c.at(name);
    if (e.type == Type::kFile) {
      CHECK(e.data == "BUSYBOX");
      ++with_data;
    } else {
      CHECK(e.type == Type::kHardlink);
    }
  }
  CHECK(with_data == 1);
  // The superblock compressor is gzip (id 1), kept for Linux 6.1.
  const std::string bytes = ReadFile(dir / "image.sqfs");
  CHECK(bytes.substr(0, 4) == "hsqs");
  CHECK(static_cast<unsigned char>(bytes[20]) == 1);
}

TEST_CASE("squashfs: the same layers give the same bytes, xz works, zstd is refused",
          "[images][squashfs]") {
  if (!HaveSquashfsTools()) SKIP_TEST("tar2sqfs/sqfs2tar (squashfs-tools-ng) not installed");
  ScratchDir dir;
  const auto layers = WriteLayers(dir, SampleLayers());
  auto a = images::BuildSquashfs(layers, dir / "a.sqfs");
  sleep(1);  // a different wall clock must not change anything
  auto b = images::BuildSquashfs(layers, dir / "b.sqfs");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->digest == b->digest);
  auto x = images::BuildSquashfs(layers, dir / "x.sqfs", images::Compressor::kXz);
  REQUIRE(x.ok());
  CHECK(x->digest != a->digest);
  CHECK(static_cast<unsigned char>(ReadFile(dir / "x.sqfs")[20]) == 4);  // xz
  CHECK(Contents(dir, dir / "x.sqfs").at("opt/new").data == "n");
  CHECK_FALSE(images::ParseCompressor("zstd").ok());
  CHECK(*images::ParseCompressor("xz") == images::Compressor::kXz);
}

TEST_CASE("squashfs: failures leave nothing and say why", "[images][squashfs]") {
  if (!HaveSquashfsTools()) SKIP_TEST("tar2sqfs/sqfs2tar (squashfs-tools-ng) not installed");
  ScratchDir dir;
  const auto layers = WriteLayers(dir, SampleLayers());
  // A bad layer: the merge fails, tar2sqfs is stopped, no output.
  WriteFile(dir / "bad.tar", TarBytes({File("../escape", "x")}, false));
  auto r = images::BuildSquashfs({layers[0], dir / "bad.tar"}, dir / "out.sqfs");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("layer 2") != std::string::npos);
  CHECK(ListDir(dir.path()) ==
        std::vector<std::string>{"bad.tar", "layer0.tar.gz", "layer1.tar.gz"});
  // tar2sqfs itself fails (cannot create its output): its last stderr line is reported.
  r = images::BuildSquashfs(layers, dir / "no/such/dir/out.sqfs");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("tar2sqfs") != std::string::npos);
  INFO(r.status().message());
  CHECK(r.status().message().find("no/such/dir") != std::string::npos);
}
