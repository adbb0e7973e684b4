// ImageStore: skopeo into a temporary OCI layout, verify, build squashfs
// files, then publish blobs, squashfs files and index.json under the mutex.
#include "images/store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "images/digest.h"
#include "images/layers.h"
#include "mesh/atomic_file.h"
#include "source_kind.h"
#include "store_index.h"
#include "subprocess.h"

namespace images {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::size_t kMaxJsonBlob = 4 << 20;    // manifests, indexes, configs
constexpr std::size_t kMaxIndexFile = 64 << 20;  // the store's index.json
constexpr const char* kTempRef = "import";

std::string Hex(std::string_view digest) { return std::string(digest.substr(7)); }

// skopeo's logrus line 'time="..." level=fatal msg="why"' -> 'why'.
std::string SkopeoError(const std::string& line) {
  const auto msg = line.find("msg=\"");
  if (msg == std::string::npos) return line;
  std::string why = line.substr(msg + 5);
  if (!why.empty() && why.back() == '"') why.pop_back();
  std::string out;
  for (std::size_t i = 0; i < why.size(); ++i) {
    if (why[i] == '\\' && i + 1 < why.size()) ++i;
    out += why[i];
  }
  return out;
}

// Docker Hub names in their familiar form, as `docker save` writes them:
// "docker.io/library/busybox" -> "busybox", "docker.io/team/x" -> "team/x".
std::string FamiliarName(std::string name) {
  for (const char* hub : {"docker.io/", "index.docker.io/"}) {
    if (name.starts_with(hub)) {
      name = name.substr(std::string_view(hub).size());
      if (name.starts_with("library/") && name.find('/', 8) == std::string::npos)
        name = name.substr(8);
      break;
    }
  }
  return name;
}

void Say(const ProgressFn& progress, const std::string& line) {
  if (progress) progress(line);
}

// Removes a temporary directory tree when the import ends, however it ends.
class TempDir {
 public:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A descriptor as found in index.json, an index or a manifest.
struct Descriptor {
  std::string media_type;
  std::string digest;
  std::int64_t size = -1;
  json platform;     // null when absent
  json annotations;  // null when absent
};

mesh::Result<Descriptor> ParseDescriptor(const json& j, std::string_view where) {
  const auto bad = [&](std::string_view why) {
    return mesh::Status::Corrupt(std::string(where), "descriptor " + std::string(why));
  };
  if (!j.is_object()) return bad("is not an object");
  Descriptor d;
  const auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string() || !IsSha256Digest(digest->get<std::string>()))
    return bad("has no sha256 digest");
  d.digest = digest->get<std::string>();
  if (const auto mt = j.find("mediaType"); mt != j.end()) {
    if (!mt->is_string()) return bad("mediaType is not a string");
    d.media_type = mt->get<std::string>();
  }
  if (const auto size = j.find("size"); size != j.end()) {
    if (!size->is_number_integer()) return bad("size is not an integer");
    d.size = size->get<std::int64_t>();
  }
  if (const auto p = j.find("platform"); p != j.end()) d.platform = *p;
  if (const auto a = j.find("annotations"); a != j.end()) d.annotations = *a;
  return d;
}

mesh::Result<std::vector<Descriptor>> ParseDescriptors(const json& doc, const char* key,
                                                       std::string_view where) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_array())
    return mesh::Status::Corrupt(std::string(where), std::string("has no '") + key + "' array");
  std::vector<Descriptor> out;
  for (const auto& j : *it) {
    auto d = ParseDescriptor(j, where);
    if (!d.ok()) return d.status();
    out.push_back(std::move(*d));
  }
  return out;
}

std::string JsonString(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Manifests in an index that are not runnable images: buildx attestations
// ("unknown/unknown" platform, vnd.docker.reference.type annotation).
bool IsAttestation(const Descriptor& d) {
  return JsonString(d.platform, "os") == "unknown" ||
         !JsonString(d.annotations, "vnd.docker.reference.type").empty();
}

bool IsLayerMediaType(std::string_view mt) {
  return mt.empty() || mt.starts_with("application/vnd.oci.image.layer.v1.tar") ||
         mt.starts_with("application/vnd.docker.image.rootfs.diff.tar");
}

// Reads and checks the blobs of one temporary OCI layout.
class LayoutReader {
 public:
  explicit LayoutReader(std::string layout) : layout_(std::move(layout)) {}

  std::string BlobPath(const std::string& digest) const {
    return layout_ + "/blobs/sha256/" + Hex(digest);
  }

  // The blob's bytes hash to its digest (and match the descriptor's size).
  mesh::Status Verify(const Descriptor& d, const std::string& what) {
    if (verified_.count(d.digest) != 0) return mesh::Status::Ok();
    const std::string path = BlobPath(d.digest);
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) return mesh::Status::Corrupt("verify " + what, "blob " + d.digest + " is missing");
    if (d.size >= 0 && size != static_cast<std::uintmax_t>(d.size))
      return mesh::Status::Corrupt("verify " + what,
                                   "blob " + d.digest + " has " + std::to_string(size) +
                                       " bytes, its descriptor says " + std::to_string(d.size));
    auto actual = FileDigest(path);
    if (!actual.ok()) return actual.status().WithContext("verify " + what);
    if (*actual != d.digest)
      return mesh::Status::Corrupt("verify " + what, "digest mismatch: descriptor says " +
                                                         d.digest + ", content is " + *actual);
    verified_.emplace(d.digest, size);
    return mesh::Status::Ok();
  }

  mesh::Result<json> ReadJson(const Descriptor& d, const std::string& what) {
    MESH_RETURN_IF_ERROR(Verify(d, what));
    auto text = mesh::ReadFileLimited(BlobPath(d.digest), kMaxJsonBlob);
    if (!text.ok()) return text.status().WithContext("read " + what);
    json doc = json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return mesh::Status::Corrupt("read " + what, "not a JSON object");
    return doc;
  }

  mesh::Result<std::string> ReadText(const Descriptor& d, const std::string& what) {
    MESH_RETURN_IF_ERROR(Verify(d, what));
    auto text = mesh::ReadFileLimited(BlobPath(d.digest), kMaxJsonBlob);
    if (!text.ok()) return text.status().WithContext("read " + what);
    return std::move(*text);
  }

  std::uint64_t SizeOf(const std::string& digest) const {
    const auto it = verified_.find(digest);
    return it == verified_.end() ? 0 : it->second;
  }
  const std::map<std::string, std::uint64_t>& verified() const { return verified_; }

 private:
  std::string layout_;
  std::map<std::string, std::uint64_t> verified_;  // digest -> size
};

}  // namespace

std::string PlatformImage::PlatformString() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

std::string ImageRecord::RefString() const {
  if (!tag.empty()) return name + ":" + tag;
  return name + "@" + (source_digest.empty() ? digest : source_digest);
}

// What an import produced before it is published.
struct ImageStore::Staged {
  ImageRecord record;
  std::map<std::string, std::string> blobs;     // digest -> temporary path
  std::map<std::string, std::string> squashfs;  // digest -> temporary path
  std::set<std::string> reused_squashfs;        // digests expected in the store already
};

ImageStore::ImageStore(std::string dir) : dir_(std::move(dir)) {}
ImageStore::~ImageStore() = default;

mesh::Result<std::unique_ptr<ImageStore>> ImageStore::Open(std::string dir) {
  std::error_code ec;
  const std::string abs = fs::absolute(dir, ec).lexically_normal().string();
  const std::string op = "open image store " + abs;
  fs::create_directories(abs, ec);
  if (ec) return mesh::Status::FromErrno(op, ec.value());
  for (const char* sub : {"/blobs", "/blobs/sha256", "/squashfs", "/tmp"})
    MESH_RETURN_IF_ERROR(mesh::EnsureDirectory(abs + sub, 0755).WithContext(op));
  // Leftovers of imports that crashed: everything in tmp/, stray *.tmp files.
  for (const auto& entry : fs::directory_iterator(abs + "/tmp", ec))
    fs::remove_all(entry.path(), ec);
  for (const char* sub : {"", "/squashfs", "/blobs/sha256"}) {
    for (const auto& entry : fs::directory_iterator(abs + sub, ec))
      if (entry.path().extension() == ".tmp" && !entry.is_directory(ec))
        fs::remove(entry.path(), ec);
  }
  std::unique_ptr<ImageStore> store(new ImageStore(abs));
  auto text = mesh::ReadFileLimited(abs + "/index.json", kMaxIndexFile);
  if (text.ok()) {
    auto records = internal::DecodeIndex(*text);
    if (!records.ok()) return records.status().WithContext(op);
    store->records_ = std::move(*records);
  } else if (text.status().code() != mesh::StatusCode::kNotFound) {
    return text.status().WithContext(op);
  }
  return store;
}

mesh::Result<std::string> ImageStore::MakeTempDir() {
  std::string templ = dir_ + "/tmp/import-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return mesh::Status::FromErrno("mkdtemp " + templ, errno);
  return templ;
}

mesh::Result<ImageRecord> ImageStore::Load(const std::string& path, const LoadOptions& options) {
  std::lock_guard import_lock(import_mu_);
  auto source = internal::InspectSource(path);
  if (!source.ok()) return source.status();
  const std::string op = "load " + path;
  std::string name_text = !options.name.empty() ? options.name : FamiliarName(source->name);
  if (name_text.empty())
    return mesh::Status::InvalidArgument(op, std::string("the ") +
                                                 internal::SourceKindName(source->kind) +
                                                 " names no image; pass --name NAME[:TAG]");
  auto name = ParseReference(name_text);
  if (!name.ok()) return name.status().WithContext(op);
  if (!name->digest.empty())
    return mesh::Status::InvalidArgument(op, "a loaded image's name cannot have a digest");

  auto tmp_path = MakeTempDir();
  if (!tmp_path.ok()) return tmp_path.status();
  TempDir tmp(*tmp_path);
  const std::string layout = tmp.path() + "/layout";
  Say(options.progress, "copying " + path + " (" + internal::SourceKindName(source->kind) + ")");
  std::vector<std::string> argv = {"skopeo", "copy", "--quiet"};
  if (source->kind != internal::SourceKind::kDockerArchive) argv.push_back("--all");
  argv.push_back(source->transport);
  argv.push_back("oci:" + layout + ":" + kTempRef);
  auto exit = internal::Run(argv);
  if (!exit.ok()) return exit.status().WithContext(op);
  if (!exit->ok())
    return mesh::Status::InvalidArgument(op, "skopeo copy: " + SkopeoError(exit->LastLine()));
  auto staged = Import(layout, *name, options.compressor, options.progress);
  if (!staged.ok()) return staged.status().WithContext(op);
  return staged;
}

mesh::Result<ImageRecord> ImageStore::Pull(std::string_view ref_text, const PullOptions& options) {
  std::lock_guard import_lock(import_mu_);
  auto ref = ParseReference(ref_text);
  if (!ref.ok()) return ref.status();
  const std::string op = "pull " + std::string(ref_text);
  auto tmp_path = MakeTempDir();
  if (!tmp_path.ok()) return tmp_path.status();
  TempDir tmp(*tmp_path);
  const std::string layout = tmp.path() + "/layout";
  Say(options.progress, "copying docker://" + ToString(*ref));
  std::vector<std::string> argv = {"skopeo", "copy", "--quiet", "--all"};
  if (!options.tls_verify) argv.push_back("--src-tls-verify=false");
  argv.push_back("docker://" + ToString(*ref));
  argv.push_back("oci:" + layout + ":" + kTempRef);
  auto exit = internal::Run(argv);
  if (!exit.ok()) return exit.status().WithContext(op);
  if (!exit->ok())
    return mesh::Status::Unavailable(op, "skopeo copy: " + SkopeoError(exit->LastLine()));
  auto record = Import(layout, *ref, options.compressor, options.progress);
  if (!record.ok()) return record.status().WithContext(op);
  return record;
}

mesh::Result<ImageRecord> ImageStore::Import(const std::string& layout, const Reference& name,
                                             Compressor compressor, const ProgressFn& progress) {
  LayoutReader reader(layout);
  auto index_text = mesh::ReadFileLimited(layout + "/index.json", kMaxJsonBlob);
  if (!index_text.ok()) return index_text.status();
  const json index = json::parse(*index_text, nullptr, false);
  if (index.is_discarded() || !index.is_object())
    return mesh::Status::Corrupt("layout index.json", "not a JSON object");
  auto tops = ParseDescriptors(index, "manifests", "layout index.json");
  if (!tops.ok()) return tops.status();
  if (tops->size() != 1)
    return mesh::Status::Corrupt("layout index.json",
                                 "expected one image, found " + std::to_string(tops->size()));
  const Descriptor top = (*tops)[0];

  Staged staged;
  ImageRecord& rec = staged.record;
  rec.name = name.name;
  rec.tag = name.tag;
  rec.source_digest = name.digest;
  rec.digest = top.digest;
  rec.created = static_cast<std::int64_t>(std::time(nullptr));

  Say(progress, "verifying manifests");
  auto top_doc = reader.ReadJson(top, "image " + top.digest);
  if (!top_doc.ok()) return top_doc.status();
  std::vector<Descriptor> manifests;
  if (top_doc->contains("manifests")) {
    auto children = ParseDescriptors(*top_doc, "manifests", "image index " + top.digest);
    if (!children.ok()) return children.status();
    for (auto& d : *children)
      if (!IsAttestation(d)) manifests.push_back(std::move(d));
    if (manifests.empty())
      return mesh::Status::Corrupt("image index " + top.digest, "lists no image manifests");
  } else {
    manifests.push_back(top);
  }

  for (const auto& md : manifests) {
    auto manifest = reader.ReadJson(md, "manifest " + md.digest);
    if (!manifest.ok()) return manifest.status();
    const auto config_it = manifest->find("config");
    if (config_it == manifest->end())
      return mesh::Status::Corrupt("manifest " + md.digest, "has no config");
    auto config_desc = ParseDescriptor(*config_it, "manifest " + md.digest);
    if (!config_desc.ok()) return config_desc.status();
    auto layers = ParseDescriptors(*manifest, "layers", "manifest " + md.digest);
    if (!layers.ok()) return layers.status();
    auto config_text = reader.ReadText(*config_desc, "config " + config_desc->digest);
    if (!config_text.ok()) return config_text.status();
    auto config = ParseImageConfig(*config_text);
    if (!config.ok()) return config.status().WithContext("config " + config_desc->digest);

    PlatformImage p;
    p.os = config->os;
    p.architecture = config->architecture;
    p.variant = !config->variant.empty() ? config->variant : JsonString(md.platform, "variant");
    p.manifest_digest = md.digest;
    p.config_digest = config_desc->digest;
    p.config = *config;
    const std::string platform = p.PlatformString();
    if (layers->size() != config->diff_ids.size())
      return mesh::Status::Corrupt("image " + platform,
                                   "manifest lists " + std::to_string(layers->size()) +
                                       " layers, config has " +
                                       std::to_string(config->diff_ids.size()) + " diff_ids");
    std::vector<std::string> layer_paths;
    for (std::size_t i = 0; i < layers->size(); ++i) {
      const Descriptor& l = (*layers)[i];
      const std::string what = "layer " + std::to_string(i + 1) + " of " + platform;
      if (!IsLayerMediaType(l.media_type))
        return mesh::Status::Unsupported(what, "media type " + l.media_type);
      Say(progress, "verifying " + what.substr(0, what.find(" of ")) + "/" +
                        std::to_string(layers->size()) + " of " + platform);
      MESH_RETURN_IF_ERROR(reader.Verify(l, what));
      auto diff_id = DiffId(reader.BlobPath(l.digest));
      if (!diff_id.ok()) return diff_id.status().WithContext(what);
      if (*diff_id != config->diff_ids[i])
        return mesh::Status::Corrupt(what, "diff_id mismatch: config says " + config->diff_ids[i] +
                                               ", layer decompresses to " + *diff_id);
      p.layers.push_back(l.digest);
      p.compressed_size += reader.SizeOf(l.digest);
      layer_paths.push_back(reader.BlobPath(l.digest));
    }

    // An identical platform image already stored keeps its squashfs.
    bool reused = false;
    {
      std::lock_guard lock(mu_);
      for (const auto& r : records_) {
        for (const auto& old : r.platforms) {
          if (reused || old.manifest_digest != p.manifest_digest || old.squashfs_digest.empty())
            continue;
          std::error_code ec;
          if (!fs::exists(dir_ + "/squashfs/" + Hex(old.squashfs_digest) + ".sqfs", ec)) continue;
          p.squashfs_digest = old.squashfs_digest;
          p.squashfs_size = old.squashfs_size;
          p.user = old.user;
          p.user_error = old.user_error;
          reused = true;
        }
      }
    }
    if (reused) {
      Say(progress, "squashfs " + platform + " already stored");
      staged.reused_squashfs.insert(p.squashfs_digest);
    } else if (const auto built = std::find_if(
                   rec.platforms.begin(), rec.platforms.end(),
                   [&](const PlatformImage& q) { return q.manifest_digest == p.manifest_digest; });
               built != rec.platforms.end()) {
      p.squashfs_digest = built->squashfs_digest;
      p.squashfs_size = built->squashfs_size;
      p.user = built->user;
      p.user_error = built->user_error;
    } else {
      Say(progress, "building squashfs " + platform + " (" + CompressorName(compressor) + ")");
      const std::string out =
          layout + "/../platform-" + std::to_string(rec.platforms.size()) + ".sqfs";
      auto info = BuildSquashfs(layer_paths, out, compressor);
      if (!info.ok()) return info.status().WithContext("image " + platform);
      p.squashfs_digest = info->digest;
      p.squashfs_size = info->size;
      staged.squashfs.emplace(info->digest, out);
      auto user = ResolveUser(p.config.user, info->passwd.value_or(""), info->group.value_or(""));
      if (user.ok()) {
        p.user = *user;
      } else {
        p.user_error = user.status().message();
      }
    }
    rec.platforms.push_back(std::move(p));
  }
  for (const auto& [digest, size] : reader.verified()) {
    rec.blobs.push_back(digest);
    staged.blobs.emplace(digest, reader.BlobPath(digest));
  }
  return Publish(std::move(staged));
}

mesh::Result<ImageRecord> ImageStore::Publish(Staged staged) {
  std::lock_guard lock(mu_);
  const std::string op = "store image " + staged.record.RefString();
  for (const auto& digest : staged.reused_squashfs) {
    std::error_code ec;
    if (!fs::exists(dir_ + "/squashfs/" + Hex(digest) + ".sqfs", ec))
      return mesh::Status::Unavailable(
          op, "squashfs " + digest + " was removed during the import; load again");
  }
  const auto move_in = [&](const std::string& from, const std::string& to) -> mesh::Status {
    std::error_code ec;
    if (fs::exists(to, ec)) return mesh::Status::Ok();  // content-addressed: same bytes
    if (std::rename(from.c_str(), to.c_str()) != 0)
      return mesh::Status::FromErrno("rename " + from, errno);
    return mesh::Status::Ok();
  };
  std::vector<ImageRecord> next;
  std::vector<ImageRecord> replaced;
  for (auto& r : records_) {
    if (r.name == staged.record.name && r.tag == staged.record.tag &&
        (!r.tag.empty() || r.digest == staged.record.digest)) {
      replaced.push_back(r);
    } else {
      next.push_back(r);
    }
  }
  next.push_back(staged.record);
  mesh::Status status;
  for (const auto& [digest, from] : staged.blobs) {
    if (status.ok()) status = move_in(from, dir_ + "/blobs/sha256/" + Hex(digest));
  }
  for (const auto& [digest, from] : staged.squashfs) {
    if (status.ok()) status = move_in(from, dir_ + "/squashfs/" + Hex(digest) + ".sqfs");
  }
  if (status.ok()) status = mesh::FsyncPath(dir_ + "/blobs/sha256");
  if (status.ok()) status = mesh::FsyncPath(dir_ + "/squashfs");
  if (status.ok()) status = SaveIndexLocked(next);
  if (!status.ok()) {
    CollectGarbageLocked({staged.record});  // what was moved in and nothing uses
    return status.WithContext(op);
  }
  records_ = std::move(next);
  CollectGarbageLocked(replaced);
  return staged.record;
}

mesh::Status ImageStore::SaveIndexLocked(const std::vector<ImageRecord>& records) const {
  return mesh::WriteFileAtomic(dir_ + "/index.json", internal::EncodeIndex(records), 0644);
}

void ImageStore::CollectGarbageLocked(const std::vector<ImageRecord>& dropped) {
  std::set<std::string> blobs_in_use, squashfs_in_use;
  for (const auto& r : records_) {
    blobs_in_use.insert(r.blobs.begin(), r.blobs.end());
    for (const auto& p : r.platforms) squashfs_in_use.insert(p.squashfs_digest);
  }
  std::error_code ec;
  for (const auto& r : dropped) {
    for (const auto& b : r.blobs)
      if (blobs_in_use.count(b) == 0 && IsSha256Digest(b))
        fs::remove(dir_ + "/blobs/sha256/" + Hex(b), ec);
    for (const auto& p : r.platforms)
      if (squashfs_in_use.count(p.squashfs_digest) == 0 && IsSha256Digest(p.squashfs_digest))
        fs::remove(dir_ + "/squashfs/" + Hex(p.squashfs_digest) + ".sqfs", ec);
  }
}

std::vector<ImageRecord> ImageStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<ImageRecord> out = records_;
  std::sort(out.begin(), out.end(), [](const ImageRecord& a, const ImageRecord& b) {
    return a.name != b.name ? a.name < b.name : a.tag < b.tag;
  });
  return out;
}

mesh::Result<ImageRecord> ImageStore::Resolve(std::string_view ref_text) const {
  auto ref = ParseReference(ref_text);
  if (!ref.ok()) return ref.status();
  std::lock_guard lock(mu_);
  for (const auto& r : records_) {
    if (r.name != ref->name) continue;
    if (!ref->digest.empty()) {
      bool match = r.digest == ref->digest || r.source_digest == ref->digest;
      for (const auto& p : r.platforms) match = match || p.manifest_digest == ref->digest;
      if (match) return r;
    } else if (r.tag == ref->tag) {
      return r;
    }
  }
  std::string loaded;
  std::size_t shown = 0;
  for (const auto& r : records_) {
    if (shown++ == 10) {
      loaded += ", ...";
      break;
    }
    loaded += (loaded.empty() ? "" : ", ") + r.RefString();
  }
  return mesh::Status::NotFound(
      "image " + std::string(ref_text),
      "not found on the GPU peer (loaded: " + (loaded.empty() ? "none" : loaded) + ")");
}

mesh::Status ImageStore::Remove(std::string_view ref) {
  auto found = Resolve(ref);
  if (!found.ok()) return found.status();
  std::lock_guard lock(mu_);
  std::vector<ImageRecord> next;
  std::vector<ImageRecord> dropped;
  for (const auto& r : records_) {
    const bool same = r.name == found->name && r.tag == found->tag && r.digest == found->digest;
    (same ? dropped : next).push_back(r);
  }
  if (dropped.empty())
    return mesh::Status::NotFound("remove image " + std::string(ref), "removed meanwhile");
  MESH_RETURN_IF_ERROR(SaveIndexLocked(next).WithContext("remove image " + std::string(ref)));
  records_ = std::move(next);
  CollectGarbageLocked(dropped);
  return mesh::Status::Ok();
}

mesh::Result<std::string> ImageStore::SquashfsPath(std::string_view digest) const {
  const std::string op = "squashfs " + std::string(digest);
  if (!IsSha256Digest(digest)) return mesh::Status::InvalidArgument(op, "not a sha256 digest");
  std::lock_guard lock(mu_);
  for (const auto& r : records_)
    for (const auto& p : r.platforms)
      if (p.squashfs_digest == digest) return dir_ + "/squashfs/" + Hex(digest) + ".sqfs";
  return mesh::Status::NotFound(op, "no image on the GPU peer has it");
}

}  // namespace images
