// Layer merging: pass 1 replays every layer's headers into an in-memory tree
// of paths -> inodes (applying whiteouts and replacements), pass 2 streams the
// surviving regular files' data from the layers in order.
#include "images/layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "images/digest.h"

namespace images {
namespace {

constexpr std::size_t kMaxCapturedFile = 1 << 20;  // /etc/passwd, /etc/group
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ReadDeleter>;
using WriteArchive = std::unique_ptr<archive, WriteDeleter>;
using Entry = std::unique_ptr<archive_entry, EntryDeleter>;

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

std::string Basename(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "layer 2 (ab12...)": 1-based, with the blob's file name.
std::string LayerLabel(std::size_t index, const std::string& path) {
  return "layer " + std::to_string(index + 1) + " (" + Basename(path) + ")";
}

mesh::Status EntryError(const std::string& layer, std::string_view entry, std::string_view why) {
  return mesh::Status::InvalidArgument("merge " + layer,
                                       "entry '" + std::string(entry) + "': " + std::string(why));
}

mesh::Result<ReadArchive> OpenLayer(const std::string& path, const std::string& label) {
  ReadArchive a(archive_read_new());
  if (!a) return mesh::Status::Internal("merge " + label, "archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return mesh::Status::Corrupt("open " + label, ArchiveError(a.get()));
  return a;
}

// ARCHIVE_OK / ARCHIVE_WARN (e.g. a name not convertible to the locale, kept
// as bytes) continue; ARCHIVE_EOF ends; anything else is an error.
enum class Next { kEntry, kEnd };
mesh::Result<Next> NextHeader(archive* a, archive_entry** e, const std::string& label) {
  const int r = archive_read_next_header(a, e);
  if (r == ARCHIVE_EOF) return Next::kEnd;
  if (r == ARCHIVE_OK || r == ARCHIVE_WARN) return Next::kEntry;
  return mesh::Status::Corrupt("read " + label, ArchiveError(a));
}

// The raw pathname bytes (libarchive keeps undecodable names as bytes).
std::string_view EntryPath(archive_entry* e) {
  const char* p = archive_entry_pathname(e);
  return p != nullptr ? p : "";
}

// Keeps only the xattr namespaces squashfs can store; drops ACLs and flags,
// which tar2sqfs cannot represent.
void SanitiseMetadata(archive_entry* e) {
  std::vector<std::pair<std::string, std::string>> keep;
  archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    const std::string_view n = name != nullptr ? name : "";
    if (n.starts_with("user.") || n.starts_with("trusted.") || n.starts_with("security."))
      keep.emplace_back(std::string(n), std::string(static_cast<const char*>(value), size));
  }
  archive_entry_xattr_clear(e);
  for (const auto& [k, v] : keep) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
  archive_entry_acl_clear(e);
  archive_entry_set_fflags(e, 0, 0);
  archive_entry_sparse_clear(e);
}

enum class Kind { kDir, kFile, kOther };

struct Inode {
  std::size_t layer = 0;
  std::size_t index = 0;  // entry position in the layer (the data source)
  Kind kind = Kind::kOther;
  Entry header;
  std::optional<std::string> content;  // only for /etc/passwd and /etc/group
  std::vector<std::string> names;      // surviving names, filled after pass 1
};

struct Node {
  std::size_t inode = 0;
  bool is_dir = false;
};

using Tree = std::map<std::string, Node>;

// Removes everything strictly below `path` ("" = the root).
void EraseChildren(Tree& tree, const std::string& path) {
  if (path.empty()) {
    tree.erase(tree.upper_bound(""), tree.end());
    return;
  }
  // Children are "path/..."; '0' is the character after '/'.
  tree.erase(tree.lower_bound(path + "/"), tree.lower_bound(path + "0"));
}

void ErasePath(Tree& tree, const std::string& path) {
  EraseChildren(tree, path);
  if (!path.empty()) tree.erase(path);
}

std::string ParentOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// One entry of a layer as read in pass 1.
struct Pending {
  std::size_t index = 0;
  std::string path;
  Entry header;
  std::optional<std::string> hardlink;  // cleaned target
  std::optional<std::string> content;
};

// Everything pass 1 learns about one layer: whiteouts, then entries in order.
struct LayerChanges {
  std::vector<std::string> whiteouts;  // paths to delete with their subtree
  std::vector<std::string> opaque;     // directories whose lower children go
  std::vector<Pending> entries;
};

mesh::Result<LayerChanges> ReadLayerHeaders(const std::string& path, const std::string& label) {
  auto opened = OpenLayer(path, label);
  if (!opened.ok()) return opened.status();
  archive* a = opened->get();
  LayerChanges changes;
  archive_entry* e = nullptr;
  for (std::size_t index = 0;; ++index) {
    auto next = NextHeader(a, &e, label);
    if (!next.ok()) return next.status();
    if (*next == Next::kEnd) break;
    const std::string_view raw = EntryPath(e);
    auto clean = CleanEntryPath(raw);
    if (!clean.ok()) return EntryError(label, raw, "path has a '..' component");
    const std::string& p = *clean;
    const std::string base = Basename(p);
    if (base.starts_with(kWhiteoutPrefix)) {
      if (base == kOpaqueMarker) {
        changes.opaque.push_back(ParentOf(p));
      } else if (base.starts_with(".wh..wh.")) {
        // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
      } else {
        const std::string parent = ParentOf(p);
        const std::string victim = base.substr(kWhiteoutPrefix.size());
        if (victim.empty() || victim == "." || victim == "..")
          return EntryError(label, raw, "whiteout names no file");
        changes.whiteouts.push_back(parent.empty() ? victim : parent + "/" + victim);
      }
      if (archive_read_data_skip(a) != ARCHIVE_OK)
        return mesh::Status::Corrupt("read " + label, ArchiveError(a));
      continue;
    }
    Pending pending;
    pending.index = index;
    pending.path = p;
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
      const std::string_view target = link;
      if (target.starts_with("/"))
        return EntryError(label, raw, "hard link target '" + std::string(target) + "' is absolute");
      auto t = CleanEntryPath(target);
      if (!t.ok())
        return EntryError(label, raw,
                          "hard link target '" + std::string(target) + "' has a '..' component");
      if (t->empty()) return EntryError(label, raw, "hard link to the root directory");
      pending.hardlink = *t;
    } else {
      const auto type = archive_entry_filetype(e);
      if (type == AE_IFSOCK) return EntryError(label, raw, "sockets cannot be stored in an image");
      if (type != AE_IFDIR && type != AE_IFREG && type != AE_IFLNK && type != AE_IFCHR &&
          type != AE_IFBLK && type != AE_IFIFO)
        return EntryError(label, raw, "unknown file type");
      if (p.empty() && type != AE_IFDIR)
        return EntryError(label, raw, "the root must be a directory");
      if (type == AE_IFREG && (p == "etc/passwd" || p == "etc/group") &&
          archive_entry_size(e) <= static_cast<la_int64_t>(kMaxCapturedFile)) {
        std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
        const la_ssize_t n = archive_read_data(a, data.data(), data.size());
        if (n < 0 || static_cast<std::size_t>(n) != data.size())
          return mesh::Status::Corrupt("read " + label, "entry '" + p + "': " + ArchiveError(a));
        pending.content = std::move(data);
      }
    }
    pending.header.reset(archive_entry_clone(e));
    if (!pending.header)
      return mesh::Status::Internal("merge " + label, "archive_entry_clone failed");
    SanitiseMetadata(pending.header.get());
    // Reading the data (skip decompresses it) finds truncation in pass 1.
    if (archive_read_data_skip(a) != ARCHIVE_OK)
      return mesh::Status::Corrupt("read " + label, "entry '" + p + "': " + ArchiveError(a));
    changes.entries.push_back(std::move(pending));
  }
  return changes;
}

class Merger {
 public:
  mesh::Status ApplyLayer(std::size_t layer, const std::string& label, LayerChanges changes) {
    // Whiteouts only reach lower layers: apply them before this layer's entries.
    for (const auto& dir : changes.opaque) EraseChildren(tree_, dir);
    for (const auto& victim : changes.whiteouts) ErasePath(tree_, victim);
    for (auto& pending : changes.entries) MESH_RETURN_IF_ERROR(ApplyEntry(layer, label, pending));
    return mesh::Status::Ok();
  }

  Tree& tree() { return tree_; }
  std::vector<Inode>& inodes() { return inodes_; }

 private:
  mesh::Status ApplyEntry(std::size_t layer, const std::string& label, Pending& pending) {
    const std::string& p = pending.path;
    // Every ancestor must be a directory or absent (created implicitly).
    for (auto slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
      const auto it = tree_.find(p.substr(0, slash));
      if (it != tree_.end() && !it->second.is_dir)
        return EntryError(
            label, p,
            "parent '" + it->first + "' is not a directory (symlinked parents are not followed)");
    }
    if (pending.hardlink) {
      const std::string& target = *pending.hardlink;
      if (target == p) return mesh::Status::Ok();
      const auto it = tree_.find(target);
      if (it == tree_.end())
        return EntryError(
            label, p, "hard link target '" + target + "' does not exist in this or a lower layer");
      if (it->second.is_dir) return EntryError(label, p, "hard link to directory '" + target + "'");
      const Node node = it->second;
      ErasePath(tree_, p);
      tree_[p] = node;
      return mesh::Status::Ok();
    }
    const bool is_dir = archive_entry_filetype(pending.header.get()) == AE_IFDIR;
    Inode inode;
    inode.layer = layer;
    inode.index = pending.index;
    inode.kind = is_dir                                                     ? Kind::kDir
                 : archive_entry_filetype(pending.header.get()) == AE_IFREG ? Kind::kFile
                                                                            : Kind::kOther;
    inode.header = std::move(pending.header);
    inode.content = std::move(pending.content);
    inodes_.push_back(std::move(inode));
    const auto it = tree_.find(p);
    if (it != tree_.end() && it->second.is_dir && is_dir) {
      it->second.inode = inodes_.size() - 1;  // directory over directory: children stay
    } else {
      ErasePath(tree_, p);
      tree_[p] = Node{inodes_.size() - 1, is_dir};
    }
    return mesh::Status::Ok();
  }

  Tree tree_;
  std::vector<Inode> inodes_;
};

// libarchive write callback: the whole buffer to the descriptor.
struct FdSink {
  int fd = -1;
  bool is_socket = true;
};

la_ssize_t WriteToFd(archive* a, void* ctx, const void* buf, size_t len) {
  auto* sink = static_cast<FdSink*>(ctx);
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n;
    if (sink->is_socket) {
      n = send(sink->fd, p + done, len - done, MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK) {
        sink->is_socket = false;
        continue;
      }
    } else {
      n = write(sink->fd, p + done, len - done);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "write merged tar: %s", std::strerror(errno));
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<la_ssize_t>(len);
}

mesh::Status WriteHeader(archive* w, archive_entry* e, const std::string& name) {
  if (archive_write_header(w, e) < ARCHIVE_WARN)
    return mesh::Status::IoError("write merged tar entry '" + name + "'", ArchiveError(w));
  return mesh::Status::Ok();
}

// Pass 2 for one layer: the data of the regular files listed in `wanted`
// (entry index -> inode), in the layer's order.
mesh::Status CopyFiles(const std::string& path, const std::string& label,
                       const std::map<std::size_t, Inode*>& wanted, archive* w,
                       std::uint64_t& entries) {
  auto opened = OpenLayer(path, label);
  if (!opened.ok()) return opened.status();
  archive* a = opened->get();
  archive_entry* e = nullptr;
  auto want = wanted.begin();
  std::array<char, 1 << 16> buf;
  for (std::size_t index = 0; want != wanted.end(); ++index) {
    auto next = NextHeader(a, &e, label);
    if (!next.ok()) return next.status();
    if (*next == Next::kEnd)
      return mesh::Status::Corrupt("read " + label, "archive changed between passes (ended early)");
    if (index != want->first) continue;
    Inode& inode = *want->second;
    ++want;
    const std::string& name = inode.names.front();
    archive_entry_set_pathname(inode.header.get(), name.c_str());
    MESH_RETURN_IF_ERROR(WriteHeader(w, inode.header.get(), name));
    const la_int64_t size = archive_entry_size(inode.header.get());
    la_int64_t copied = 0;
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0)
        return mesh::Status::Corrupt("read " + label, "entry '" + name + "': " + ArchiveError(a));
      if (n == 0) break;
      if (archive_write_data(w, buf.data(), static_cast<size_t>(n)) != n)
        return mesh::Status::IoError("write merged tar entry '" + name + "'", ArchiveError(w));
      copied += n;
    }
    if (copied != size)
      return mesh::Status::Corrupt("read " + label, "entry '" + name + "': truncated data");
    ++entries;
  }
  return mesh::Status::Ok();
}

}  // namespace

mesh::Result<std::string> CleanEntryPath(std::string_view path) {
  std::string out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view comp = path.substr(start, end - start);
    if (comp == "..")
      return mesh::Status::InvalidArgument("entry path '" + std::string(path) + "'",
                                           "has a '..' component");
    if (!comp.empty() && comp != ".") {
      if (!out.empty()) out += '/';
      out += comp;
    }
    start = end + 1;
  }
  return out;
}

namespace {

// MergeOptions::runtime_skeleton: the directories and device nodes the
// image lacks. A name the image uses for something else is left alone.
mesh::Status WriteRuntimeSkeleton(const Tree& tree, const std::vector<Inode>& inodes, archive* w,
                                  MergeResult& result) {
  auto kind_of = [&](const std::string& path) -> std::optional<Kind> {
    const auto it = tree.find(path);
    if (it == tree.end()) return std::nullopt;
    return inodes[it->second.inode].kind;
  };
  for (const char* dir : {"dev", "proc", "data"}) {
    if (kind_of(dir)) continue;
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), dir);
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    archive_entry_set_perm(e.get(), 0755);
    MESH_RETURN_IF_ERROR(WriteHeader(w, e.get(), dir));
    ++result.entries;
  }
  const auto dev = kind_of("dev");
  if (dev && *dev != Kind::kDir) return mesh::Status::Ok();  // /dev is a file or a link: not ours to fill
  struct Device {
    const char* path;
    unsigned major, minor;
  };
  for (const Device& d : {Device{"dev/null", 1, 3}, Device{"dev/zero", 1, 5}, Device{"dev/full", 1, 7},
                          Device{"dev/random", 1, 8}, Device{"dev/urandom", 1, 9}, Device{"dev/tty", 5, 0}}) {
    if (kind_of(d.path)) continue;
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), d.path);
    archive_entry_set_filetype(e.get(), AE_IFCHR);
    archive_entry_set_perm(e.get(), 0666);
    archive_entry_set_rdevmajor(e.get(), d.major);
    archive_entry_set_rdevminor(e.get(), d.minor);
    MESH_RETURN_IF_ERROR(WriteHeader(w, e.get(), d.path));
    ++result.entries;
  }
  return mesh::Status::Ok();
}

}  // namespace

mesh::Result<MergeResult> MergeLayers(const std::vector<std::string>& layer_paths, int out_fd,
                                      const MergeOptions& options) {
  Merger merger;
  for (std::size_t i = 0; i < layer_paths.size(); ++i) {
    const std::string label = LayerLabel(i, layer_paths[i]);
    auto changes = ReadLayerHeaders(layer_paths[i], label);
    if (!changes.ok()) return changes.status();
    MESH_RETURN_IF_ERROR(merger.ApplyLayer(i, label, std::move(*changes)));
  }
  auto& inodes = merger.inodes();
  for (const auto& [path, node] : merger.tree()) inodes[node.inode].names.push_back(path);

  MergeResult result;
  for (const char* captured : {"etc/passwd", "etc/group"}) {
    const auto it = merger.tree().find(captured);
    if (it == merger.tree().end()) continue;
    const Inode& inode = inodes[it->second.inode];
    if (inode.kind == Kind::kFile && inode.content)
      (std::string_view(captured) == "etc/passwd" ? result.passwd : result.group) = inode.content;
  }

  WriteArchive w(archive_write_new());
  if (!w) return mesh::Status::Internal("merge layers", "archive_write_new failed");
  archive_write_set_format_pax_restricted(w.get());
  // Names are raw bytes from the layers; keep them as they are.
  archive_write_set_format_option(w.get(), "pax", "hdrcharset", "BINARY");
  archive_write_set_bytes_per_block(w.get(), 10240);
  archive_write_set_bytes_in_last_block(w.get(), 1);
  FdSink sink{out_fd, true};
  if (archive_write_open(w.get(), &sink, nullptr, WriteToFd, nullptr) != ARCHIVE_OK)
    return mesh::Status::IoError("merge layers: open output", ArchiveError(w.get()));

  // Directories, symlinks, devices and fifos (no data), parents first.
  for (const auto& [path, node] : merger.tree()) {
    Inode& inode = inodes[node.inode];
    if (inode.kind == Kind::kFile || inode.names.front() != path) continue;
    archive_entry_set_pathname(inode.header.get(), path.empty() ? "./" : path.c_str());
    MESH_RETURN_IF_ERROR(WriteHeader(w.get(), inode.header.get(), path));
    ++result.entries;
  }
  if (options.runtime_skeleton) MESH_RETURN_IF_ERROR(WriteRuntimeSkeleton(merger.tree(), inodes, w.get(), result));
  // Regular files, one read of each layer that still contributes one.
  for (std::size_t i = 0; i < layer_paths.size(); ++i) {
    std::map<std::size_t, Inode*> wanted;
    for (auto& inode : inodes)
      if (inode.layer == i && inode.kind == Kind::kFile && !inode.names.empty())
        wanted.emplace(inode.index, &inode);
    if (wanted.empty()) continue;
    MESH_RETURN_IF_ERROR(
        CopyFiles(layer_paths[i], LayerLabel(i, layer_paths[i]), wanted, w.get(), result.entries));
  }
  // Further names of multiply linked inodes.
  for (const auto& inode : inodes) {
    for (std::size_t n = 1; n < inode.names.size(); ++n) {
      Entry link(archive_entry_new());
      archive_entry_set_pathname(link.get(), inode.names[n].c_str());
      archive_entry_set_filetype(link.get(), AE_IFREG);
      archive_entry_set_perm(link.get(), archive_entry_perm(inode.header.get()));
      archive_entry_set_uid(link.get(), archive_entry_uid(inode.header.get()));
      archive_entry_set_gid(link.get(), archive_entry_gid(inode.header.get()));
      archive_entry_set_mtime(link.get(), archive_entry_mtime(inode.header.get()), 0);
      archive_entry_set_hardlink(link.get(), inode.names.front().c_str());
      archive_entry_set_size(link.get(), 0);
      MESH_RETURN_IF_ERROR(WriteHeader(w.get(), link.get(), inode.names[n]));
      ++result.entries;
    }
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK)
    return mesh::Status::IoError("merge layers: finish output", ArchiveError(w.get()));
  return result;
}

mesh::Result<std::string> DiffId(const std::string& layer_path) {
  ReadArchive a(archive_read_new());
  if (!a) return mesh::Status::Internal("diff_id " + layer_path, "archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_filename(a.get(), layer_path.c_str(), 1 << 16) != ARCHIVE_OK)
    return mesh::Status::Corrupt("diff_id " + layer_path, ArchiveError(a.get()));
  Sha256 h;
  archive_entry* e = nullptr;
  const int r = archive_read_next_header(a.get(), &e);
  if (r == ARCHIVE_EOF) return h.Finish();
  if (r < ARCHIVE_WARN)
    return mesh::Status::Corrupt("diff_id " + layer_path, ArchiveError(a.get()));
  std::array<char, 1 << 16> buf;
  for (;;) {
    const la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n < 0) return mesh::Status::Corrupt("diff_id " + layer_path, ArchiveError(a.get()));
    if (n == 0) break;
    h.Update(buf.data(), static_cast<std::size_t>(n));
  }
  return h.Finish();
}

}  // namespace images
