#include "layer_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "images/digest.h"

namespace images::testing {
namespace fs = std::filesystem;
using nlohmann::json;

TarEntry File(std::string path, std::string data, int mode) {
  TarEntry e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.mode = mode;
  return e;
}
TarEntry Dir(std::string path, int mode) {
  TarEntry e;
  e.path = std::move(path);
  e.type = TarEntry::Type::kDir;
  e.mode = mode;
  return e;
}
TarEntry Symlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.type = TarEntry::Type::kSymlink;
  e.link = std::move(target);
  e.mode = 0777;
  return e;
}
TarEntry Hardlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.type = TarEntry::Type::kHardlink;
  e.link = std::move(target);
  return e;
}
TarEntry Whiteout(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return File(dir + ".wh." + base, "");
}
TarEntry Opaque(const std::string& dir) { return File(dir + "/.wh..wh..opq", ""); }

namespace {
la_ssize_t AppendToString(archive*, void* ctx, const void* buf, size_t len) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), len);
  return static_cast<la_ssize_t>(len);
}
}  // namespace

std::string TarBytes(const std::vector<TarEntry>& entries, bool gzip) {
  std::string out;
  archive* w = archive_write_new();
  archive_write_set_format_pax_restricted(w);
  // The same tar bytes with and without gzip (libarchive pads differently).
  archive_write_set_bytes_per_block(w, 10240);
  archive_write_set_bytes_in_last_block(w, 1);
  if (gzip) {
    archive_write_add_filter_gzip(w);
    archive_write_set_filter_option(w, "gzip", "timestamp", nullptr);  // reproducible
  }
  archive_write_open(w, &out, nullptr, AppendToString, nullptr);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    archive_entry_set_perm(e, static_cast<mode_t>(t.mode));
    switch (t.type) {
      case TarEntry::Type::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
        break;
      case TarEntry::Type::kDir:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case TarEntry::Type::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.link.c_str());
        break;
      case TarEntry::Type::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.link.c_str());
        archive_entry_set_size(e, 0);
        break;
      case TarEntry::Type::kChar:
      case TarEntry::Type::kBlock:
        archive_entry_set_filetype(e, t.type == TarEntry::Type::kChar ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdevmajor(e, t.dev_major);
        archive_entry_set_rdevminor(e, t.dev_minor);
        break;
      case TarEntry::Type::kFifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    }
    for (const auto& [k, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    if (archive_write_header(w, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(w));
    if (t.type == TarEntry::Type::kFile && !t.data.empty())
      archive_write_data(w, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(w);
  archive_write_free(w);
  return out;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::map<std::string, ReadEntry> ReadTar(const std::string& path) {
  std::map<std::string, ReadEntry> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path.c_str(), 65536) != ARCHIVE_OK)
    throw std::runtime_error("open " + path + ": " + archive_error_string(a));
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    std::string p = archive_entry_pathname(e);
    while (p.starts_with("./")) p = p.substr(2);
    while (p.starts_with("/")) p = p.substr(1);
    if (p == ".") p.clear();
    if (!p.empty() && p.back() == '/') p.pop_back();
    ReadEntry re;
    re.mode = static_cast<int>(archive_entry_perm(e));
    re.uid = archive_entry_uid(e);
    re.gid = archive_entry_gid(e);
    re.mtime = archive_entry_mtime(e);
    if (const char* h = archive_entry_hardlink(e)) {
      re.type = TarEntry::Type::kHardlink;
      re.hardlink = h;
      while (re.hardlink.starts_with("./")) re.hardlink = re.hardlink.substr(2);
    } else {
      switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
          re.type = TarEntry::Type::kDir;
          break;
        case AE_IFLNK:
          re.type = TarEntry::Type::kSymlink;
          re.link = archive_entry_symlink(e);
          break;
        case AE_IFCHR:
          re.type = TarEntry::Type::kChar;
          break;
        case AE_IFBLK:
          re.type = TarEntry::Type::kBlock;
          break;
        case AE_IFIFO:
          re.type = TarEntry::Type::kFifo;
          break;
        default:
          re.type = TarEntry::Type::kFile;
      }
      re.dev_major = archive_entry_rdevmajor(e);
      re.dev_minor = archive_entry_rdevminor(e);
    }
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
      re.xattrs[name] = std::string(static_cast<const char*>(value), size);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
      re.data.append(buf, static_cast<size_t>(n));
    if (n < 0) throw std::runtime_error("read " + path + ": " + archive_error_string(a));
    if (out.count(p) != 0) throw std::runtime_error("duplicate entry " + p + " in " + path);
    out[p] = std::move(re);
  }
  const bool failed = r != ARCHIVE_EOF;
  const std::string why = failed ? archive_error_string(a) : "";
  archive_read_free(a);
  if (failed) throw std::runtime_error("read " + path + ": " + why);
  return out;
}

ScratchDir::ScratchDir() {
  const char* base = getenv("TMPDIR");
  std::string templ =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/images-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
  path_ = templ;
}
ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string Sha(const std::string& bytes) { return DigestOf(bytes); }

namespace {

struct Blob {
  std::string digest;
  std::size_t size;
};

Blob PutBlob(const std::string& dir, const std::string& bytes) {
  const std::string digest = Sha(bytes);
  WriteFile(dir + "/blobs/sha256/" + digest.substr(7), bytes);
  return {digest, bytes.size()};
}

}  // namespace

LayoutDigests WriteOciLayout(const std::string& dir, const std::vector<TestPlatform>& platforms,
                             const std::string& ref_name, bool force_index) {
  LayoutDigests out;
  fs::create_directories(dir + "/blobs/sha256");
  WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  json descriptors = json::array();
  for (const auto& p : platforms) {
    json layers = json::array();
    json diff_ids = json::array();
    std::vector<std::string> layer_digests;
    for (const auto& entries : p.layers) {
      const std::string raw = TarBytes(entries, false);
      const std::string blob = p.gzip ? TarBytes(entries, true) : raw;
      const Blob b = PutBlob(dir, blob);
      layer_digests.push_back(b.digest);
      layers.push_back({{"mediaType", p.gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                             : "application/vnd.oci.image.layer.v1.tar"},
                        {"digest", b.digest},
                        {"size", b.size}});
      diff_ids.push_back(p.wrong_diff_id ? Sha(raw + "x") : Sha(raw));
    }
    json config = {{"architecture", p.architecture},
                   {"os", "linux"},
                   {"config", {{"Cmd", {"/bin/sh"}}, {"Env", {"PATH=/bin"}}, {"User", p.user}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    if (!p.variant.empty()) config["variant"] = p.variant;
    const Blob c = PutBlob(dir, config.dump());
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"config",
                      {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                       {"digest", c.digest},
                       {"size", c.size}}},
                     {"layers", layers}};
    const Blob m = PutBlob(dir, manifest.dump());
    out.manifests.push_back(m.digest);
    out.layers.push_back(layer_digests);
    json platform = {{"architecture", p.architecture}, {"os", "linux"}};
    if (!p.variant.empty()) platform["variant"] = p.variant;
    descriptors.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                           {"digest", m.digest},
                           {"size", m.size},
                           {"platform", platform}});
  }
  json top;
  if (platforms.size() == 1 && !force_index) {
    top = descriptors[0];
    top.erase("platform");
    out.top = out.manifests[0];
  } else {
    json index = {{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.index.v1+json"},
                  {"manifests", descriptors}};
    const Blob i = PutBlob(dir, index.dump());
    out.top = i.digest;
    top = {{"mediaType", "application/vnd.oci.image.index.v1+json"},
           {"digest", i.digest},
           {"size", i.size}};
  }
  if (!ref_name.empty()) top["annotations"] = {{"org.opencontainers.image.ref.name", ref_name}};
  json layout_index = {{"schemaVersion", 2}, {"manifests", json::array({top})}};
  WriteFile(dir + "/index.json", layout_index.dump());
  return out;
}

bool HaveProgram(const std::string& program) {
  return Shell("command -v " + program + " >/dev/null 2>&1") == 0;
}

int Shell(const std::string& command) {
  const int r = std::system(command.c_str());
  return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace images::testing
