// Test helpers for the image store: layer tarballs written with libarchive,
// merged tars read back, hand-built OCI layouts, scratch directories.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace images::testing {

struct TarEntry {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kChar, kBlock, kFifo };
  std::string path;
  Type type = Type::kFile;
  std::string data;  // file contents
  std::string link;  // symlink or hardlink target
  int mode = 0644;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t mtime = 1700000000;
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::map<std::string, std::string> xattrs;
};

TarEntry File(std::string path, std::string data, int mode = 0644);
TarEntry Dir(std::string path, int mode = 0755);
TarEntry Symlink(std::string path, std::string target);
TarEntry Hardlink(std::string path, std::string target);
TarEntry Whiteout(const std::string& path);  // DIR/.wh.NAME for DIR/NAME
TarEntry Opaque(const std::string& dir);     // DIR/.wh..wh..opq

// Writes a tar (gzip-compressed when `gzip`) and returns its bytes.
std::string TarBytes(const std::vector<TarEntry>& entries, bool gzip);
void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);

// An entry of a tar read back; `hardlink` set for link entries.
struct ReadEntry {
  TarEntry::Type type = TarEntry::Type::kFile;
  std::string data;
  std::string link;
  std::string hardlink;
  int mode = 0;  // permission bits incl. setuid/setgid/sticky
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t mtime = 0;
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::map<std::string, std::string> xattrs;
};
// Path (leading "./" stripped, "" for the root) -> entry.
std::map<std::string, ReadEntry> ReadTar(const std::string& path);

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// "sha256:<hex>" of bytes.
std::string Sha(const std::string& bytes);

// One platform of a hand-built OCI image.
struct TestPlatform {
  std::string architecture = "amd64";
  std::string variant;
  std::vector<std::vector<TarEntry>> layers;
  std::string user;
  bool gzip = true;
  // Corruptions for the negative tests.
  bool wrong_diff_id = false;
};

struct LayoutDigests {
  std::string top;  // index or manifest digest
  std::vector<std::string> manifests;
  std::vector<std::vector<std::string>> layers;  // per platform
};

// Writes an OCI image layout at `dir`: one manifest when there is one
// platform and `force_index` is false, else an index. `ref_name` goes into
// org.opencontainers.image.ref.name when not empty.
LayoutDigests WriteOciLayout(const std::string& dir, const std::vector<TestPlatform>& platforms,
                             const std::string& ref_name, bool force_index = false);

// True when `program` is in PATH.
bool HaveProgram(const std::string& program);

// Runs a shell command line; its exit status.
int Shell(const std::string& command);

// The names of the files in a directory (not recursive), sorted.
std::vector<std::string> ListDir(const std::string& dir);

}  // namespace images::testing
