#include "images/layers.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "layer_builder.h"
#include "test_support.h"

using namespace images::testing;
using Type = images::testing::TarEntry::Type;

namespace {

// Writes the layers (gzip when asked), merges them into merged.tar, reads it back.
struct Merged {
  mesh::Result<images::MergeResult> result = mesh::Status::Internal("t", "not run");
  std::map<std::string, ReadEntry> entries;
};

Merged Merge(const ScratchDir& dir, const std::vector<std::vector<TarEntry>>& layers,
             bool gzip = true, images::MergeOptions options = {}) {
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    paths.push_back(dir / ("layer" + std::to_string(i) + (gzip ? ".tar.gz" : ".tar")));
    WriteFile(paths.back(), TarBytes(layers[i], gzip));
  }
  const std::string out = dir / "merged.tar";
  const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  Merged m;
  m.result = images::MergeLayers(paths, fd, options);
  close(fd);
  if (m.result.ok()) m.entries = ReadTar(out);
  return m;
}

}  // namespace

TEST_CASE("merge: later layers replace, whiteouts delete lower subtrees", "[images]") {
  ScratchDir dir;
  auto m = Merge(
      dir, {
               {Dir("etc"), File("etc/a", "a1"), File("etc/b", "b1"), Dir("opt"), Dir("opt/x"),
                File("opt/x/deep", "d"), File("keep", "k")},
               {Whiteout("etc/b"), Whiteout("opt/x"), File("etc/a", "a2"), File("etc/new", "n")},
           });
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("etc/a").data == "a2");
  CHECK(m.entries.at("etc/new").data == "n");
  CHECK(m.entries.at("keep").data == "k");
  CHECK(m.entries.count("etc/b") == 0);
  CHECK(m.entries.count("opt/x") == 0);
  CHECK(m.entries.count("opt/x/deep") == 0);
  CHECK(m.entries.count("opt") == 1);
  for (const auto& [path, e] : m.entries) CHECK(path.find(".wh.") == std::string::npos);
}

TEST_CASE("merge: a whiteout does not touch entries of its own layer", "[images]") {
  ScratchDir dir;
  // The OCI spec: whiteouts apply to lower layers only, in any order.
  auto m = Merge(dir, {{File("f", "low")}, {File("f", "same layer"), Whiteout("f")}});
  REQUIRE(m.result.ok());
  REQUIRE(m.entries.count("f") == 1);
  CHECK(m.entries.at("f").data == "same layer");
}

TEST_CASE("merge: an opaque directory hides only lower-layer children", "[images]") {
  ScratchDir dir;
  auto m = Merge(dir, {
                          {Dir("d", 0700), File("d/old1", "1"), Dir("d/sub"),
                           File("d/sub/old2", "2"), File("other", "o")},
                          {Dir("d", 0755), Opaque("d"), File("d/new", "n")},
                      });
  REQUIRE(m.result.ok());
  CHECK(m.entries.count("d/old1") == 0);
  CHECK(m.entries.count("d/sub") == 0);
  CHECK(m.entries.count("d/sub/old2") == 0);
  CHECK(m.entries.at("d/new").data == "n");
  CHECK(m.entries.at("d").mode == 0755);
  CHECK(m.entries.at("other").data == "o");
}

TEST_CASE("merge: directory over directory keeps children, file over directory drops them",
          "[images]") {
  ScratchDir dir;
  auto m = Merge(
      dir, {
               {Dir("a", 0700), File("a/x", "x"), Dir("b"), File("b/y", "y"), File("c", "file")},
               {Dir("a", 0750), File("b", "now a file"), Dir("c"), File("c/z", "z")},
           });
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("a").mode == 0750);
  CHECK(m.entries.at("a/x").data == "x");
  CHECK(m.entries.at("b").type == Type::kFile);
  CHECK(m.entries.at("b").data == "now a file");
  CHECK(m.entries.count("b/y") == 0);
  CHECK(m.entries.at("c").type == Type::kDir);
  CHECK(m.entries.at("c/z").data == "z");
}

TEST_CASE("merge: hard links, also into lower layers and after the original is gone", "[images]") {
  ScratchDir dir;
  auto m =
      Merge(dir, {
                     {Dir("bin"), File("bin/busybox", "BUSYBOX", 0755),
                      Hardlink("bin/sh", "bin/busybox"), File("bin/tool", "T1", 0755)},
                     // A link to a file of a lower layer.
                     {Hardlink("bin/ls", "bin/busybox"), Hardlink("./bin/tool2", "./bin/tool")},
                     // The original name replaced: the other names keep the old content.
                     {File("bin/busybox", "NEW", 0755), Whiteout("bin/tool")},
                 });
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("bin/busybox").data == "NEW");
  // bin/ls and bin/sh are one inode with the old content: one carries the
  // data, the other links to it.
  const auto& ls = m.entries.at("bin/ls");
  const auto& sh = m.entries.at("bin/sh");
  CHECK(ls.type == Type::kFile);
  CHECK(ls.data == "BUSYBOX");
  CHECK(ls.mode == 0755);
  CHECK(sh.type == Type::kHardlink);
  CHECK(sh.hardlink == "bin/ls");
  CHECK(m.entries.at("bin/tool2").data == "T1");
  CHECK(m.entries.count("bin/tool") == 0);
}

TEST_CASE("merge: a hard link to a missing name or a directory is rejected", "[images]") {
  ScratchDir dir;
  auto m = Merge(dir, {{File("a", "a")}, {Whiteout("a"), Hardlink("b", "a")}});
  REQUIRE_FALSE(m.result.ok());
  CHECK(m.result.status().message().find("layer 2") != std::string::npos);
  CHECK(m.result.status().message().find("'b'") != std::string::npos);
  m = Merge(dir, {{Dir("d"), Hardlink("l", "d")}});
  REQUIRE_FALSE(m.result.ok());
  CHECK(m.result.status().message().find("directory") != std::string::npos);
}

TEST_CASE("merge: symlinks verbatim, modes, owners, mtimes, xattrs kept", "[images]") {
  ScratchDir dir;
  TarEntry suid = File("bin/su", "SU", 04755);
  suid.uid = 0;
  suid.gid = 0;
  TarEntry sgid = File("bin/wall", "W", 02755);
  sgid.gid = 5;
  TarEntry tmp = Dir("tmp", 01777);
  TarEntry owned = File("home/u/f", "f", 0600);
  owned.uid = 1000;
  owned.gid = 1001;
  owned.mtime = 1234567890;
  TarEntry cap = File("bin/ping", "P", 0755);
  cap.xattrs["security.capability"] = std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8);
  cap.xattrs["user.note"] = "hi";
  auto m = Merge(dir,
                 {{Dir("bin"), suid, sgid, tmp, owned, cap, Symlink("bin/abs", "/bin/su"),
                   Symlink("bin/rel", "../bin/su"), Symlink("dangling", "/nowhere")}},
                 /*gzip=*/false);
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("bin/su").mode == 04755);
  CHECK(m.entries.at("bin/wall").mode == 02755);
  CHECK(m.entries.at("bin/wall").gid == 5);
  CHECK(m.entries.at("tmp").mode == 01777);
  CHECK(m.entries.at("home/u/f").uid == 1000);
  CHECK(m.entries.at("home/u/f").gid == 1001);
  CHECK(m.entries.at("home/u/f").mtime == 1234567890);
  CHECK(m.entries.at("bin/abs").link == "/bin/su");
  CHECK(m.entries.at("bin/rel").link == "../bin/su");
  CHECK(m.entries.at("dangling").link == "/nowhere");
  CHECK(m.entries.at("bin/ping").xattrs.at("security.capability") ==
        cap.xattrs["security.capability"]);
  CHECK(m.entries.at("bin/ping").xattrs.at("user.note") == "hi");
}

TEST_CASE("merge: device nodes and fifos are kept", "[images]") {
  ScratchDir dir;
  TarEntry null_dev;
  null_dev.path = "dev/null";
  null_dev.type = Type::kChar;
  null_dev.mode = 0666;
  null_dev.dev_major = 1;
  null_dev.dev_minor = 3;
  TarEntry loop = null_dev;
  loop.path = "dev/loop0";
  loop.type = Type::kBlock;
  loop.dev_major = 7;
  loop.dev_minor = 0;
  TarEntry fifo;
  fifo.path = "run/fifo";
  fifo.type = Type::kFifo;
  fifo.mode = 0600;
  auto m = Merge(dir, {{Dir("dev"), null_dev, loop, fifo}});
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("dev/null").type == Type::kChar);
  CHECK(m.entries.at("dev/null").dev_major == 1);
  CHECK(m.entries.at("dev/null").dev_minor == 3);
  CHECK(m.entries.at("dev/loop0").type == Type::kBlock);
  CHECK(m.entries.at("dev/loop0").dev_major == 7);
  CHECK(m.entries.at("run/fifo").type == Type::kFifo);
}

TEST_CASE("merge: leading ./ and / are stripped, the root entry is kept", "[images]") {
  ScratchDir dir;
  auto m =
      Merge(dir, {{Dir("./", 0711), File("./a", "a"), File("/b", "b"), File(".//c/./d", "d")}});
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("").mode == 0711);
  CHECK(m.entries.at("a").data == "a");
  CHECK(m.entries.at("b").data == "b");
  CHECK(m.entries.at("c/d").data == "d");
}

TEST_CASE("merge: '..' paths, absolute and '..' hard links are rejected naming layer and entry",
          "[images]") {
  ScratchDir dir;
  auto m = Merge(dir, {{File("ok", "x")}, {File("a/../../etc/shadow", "x")}});
  REQUIRE_FALSE(m.result.ok());
  CHECK(m.result.status().code() == mesh::StatusCode::kInvalidArgument);
  CHECK(m.result.status().message().find("layer 2") != std::string::npos);
  CHECK(m.result.status().message().find("a/../../etc/shadow") != std::string::npos);

  m = Merge(dir, {{File("etc/passwd", "x"), Hardlink("p", "/etc/passwd")}});
  REQUIRE_FALSE(m.result.ok());
  CHECK(m.result.status().message().find("absolute") != std::string::npos);
  CHECK(m.result.status().message().find("layer 1") != std::string::npos);

  m = Merge(dir, {{File("x", "x"), Hardlink("p", "a/../../x")}});
  REQUIRE_FALSE(m.result.ok());
  CHECK(m.result.status().message().find("..") != std::string::npos);
}

TEST_CASE("merge: an entry below a symlink is rejected, not followed", "[images]") {
  ScratchDir dir;
  auto m = Merge(
      dir, {{Dir("usr"), Dir("usr/lib"), Symlink("lib", "usr/lib")}, {File("lib/evil", "x")}});
  REQUIRE_FALSE(m.result.ok());
  CHECK(m.result.status().message().find("not a directory") != std::string::npos);
}

TEST_CASE("merge: truncated and garbage layers are errors", "[images]") {
  ScratchDir dir;
  const std::string big(200000, 'z');
  std::string gz = TarBytes({File("big", big), File("after", "a")}, true);
  WriteFile(dir / "trunc.tar.gz", gz.substr(0, gz.size() / 2));
  std::string raw = TarBytes({File("big", big), File("after", "a")}, false);
  WriteFile(dir / "trunc.tar", raw.substr(0, 100000));
  WriteFile(dir / "garbage", "this is not a tar file at all, not even close................");
  for (const char* name : {"trunc.tar.gz", "trunc.tar", "garbage"}) {
    INFO(name);
    const int fd = open((dir / "out.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    auto r = images::MergeLayers({dir / name}, fd);
    close(fd);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("layer 1") != std::string::npos);
  }
  CHECK_FALSE(images::DiffId(dir / "trunc.tar.gz").ok());
}

TEST_CASE("merge: final /etc/passwd and /etc/group are captured", "[images]") {
  ScratchDir dir;
  auto m = Merge(
      dir, {{Dir("etc"), File("etc/passwd", "root:x:0:0::/:/bin/sh\n"), File("etc/group", "g1")},
            {File("etc/passwd", "root:x:0:0::/:/bin/sh\napp:x:1:1::/:/bin/sh\n")}});
  REQUIRE(m.result.ok());
  REQUIRE(m.result->passwd);
  CHECK(*m.result->passwd == "root:x:0:0::/:/bin/sh\napp:x:1:1::/:/bin/sh\n");
  REQUIRE(m.result->group);
  CHECK(*m.result->group == "g1");

  m = Merge(dir, {{Dir("etc"), File("etc/passwd", "x")}, {Whiteout("etc/passwd")}});
  REQUIRE(m.result.ok());
  CHECK_FALSE(m.result->passwd);
}

TEST_CASE("diff_id is the sha256 of the decompressed tar", "[images]") {
  ScratchDir dir;
  const std::vector<TarEntry> entries = {Dir("a"), File("a/b", "hello")};
  const std::string raw = TarBytes(entries, false);
  WriteFile(dir / "l.tar", raw);
  WriteFile(dir / "l.tar.gz", TarBytes(entries, true));
  auto plain = images::DiffId(dir / "l.tar");
  auto gz = images::DiffId(dir / "l.tar.gz");
  REQUIRE(plain.ok());
  REQUIRE(gz.ok());
  CHECK(*plain == Sha(raw));
  CHECK(*gz == Sha(raw));
  CHECK(images::DiffId(dir / "missing").status().code() != mesh::StatusCode::kOk);
}

TEST_CASE("entry paths are cleaned", "[images]") {
  CHECK(*images::CleanEntryPath("./a/b/") == "a/b");
  CHECK(*images::CleanEntryPath("/a//./b") == "a/b");
  CHECK(*images::CleanEntryPath("./") == "");
  CHECK(*images::CleanEntryPath("a..b/..c") == "a..b/..c");
  CHECK_FALSE(images::CleanEntryPath("a/../b").ok());
  CHECK_FALSE(images::CleanEntryPath("..").ok());
}

TEST_CASE("merge: the runtime skeleton adds /dev nodes, /proc and /data only where the image lacks them",
          "[images]") {
  ScratchDir dir;
  const images::MergeOptions skeleton{.runtime_skeleton = true};
  auto m = Merge(dir, {{Dir("dev"), File("dev/null", "an image's own file"), Dir("proc", 0555)}}, true, skeleton);
  REQUIRE(m.result.ok());
  CHECK(m.entries.at("dev/null").type == Type::kFile);  // the image's wins
  CHECK(m.entries.at("dev/null").data == "an image's own file");
  CHECK(m.entries.at("proc").mode == 0555);
  CHECK(m.entries.at("data").type == Type::kDir);
  const auto& zero = m.entries.at("dev/zero");
  CHECK(zero.type == Type::kChar);
  CHECK(zero.dev_major == 1);
  CHECK(zero.dev_minor == 5);
  CHECK(zero.mode == 0666);
  CHECK(m.entries.at("dev/tty").dev_major == 5);

  // Without the option nothing is added; a /dev that is a file gets no nodes.
  ScratchDir plain_dir;
  auto plain = Merge(plain_dir, {{File("bin/x", "x")}});
  REQUIRE(plain.result.ok());
  CHECK(plain.entries.count("dev") == 0);
  ScratchDir file_dir;
  auto file_dev = Merge(file_dir, {{File("dev", "not a directory")}}, true, skeleton);
  REQUIRE(file_dev.result.ok());
  CHECK(file_dev.entries.at("dev").type == Type::kFile);
  CHECK(file_dev.entries.count("dev/null") == 0);
  CHECK(file_dev.entries.at("proc").type == Type::kDir);
}
