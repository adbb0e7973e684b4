#include "source_kind.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "images/layers.h"
#include "images/reference.h"
#include "mesh/atomic_file.h"

namespace images::internal {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxMetadata = 4 << 20;

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::string NameFromDockerManifest(const std::string& text, std::string& error) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty()) {
    error = "manifest.json is not a non-empty JSON array";
    return {};
  }
  if (doc.size() > 1) {
    error = "the archive holds " + std::to_string(doc.size()) +
            " images; save and load them one at a time";
    return {};
  }
  const auto tags = doc[0].find("RepoTags");
  if (tags == doc[0].end() || !tags->is_array() || tags->empty() || !(*tags)[0].is_string())
    return {};
  return (*tags)[0].get<std::string>();
}

std::string NameFromOciIndex(const std::string& text, std::string& error) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("manifests") ||
      !doc["manifests"].is_array()) {
    error = "index.json has no manifests array";
    return {};
  }
  const json& manifests = doc["manifests"];
  if (manifests.size() != 1) {
    error = "the OCI layout holds " + std::to_string(manifests.size()) +
            " images; it must hold exactly one (a multi-platform image is one index)";
    return {};
  }
  const auto ann = manifests[0].find("annotations");
  if (ann == manifests[0].end() || !ann->is_object()) return {};
  for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
    const auto it = ann->find(key);
    if (it == ann->end() || !it->is_string()) continue;
    const std::string v = it->get<std::string>();
    if (std::string_view(key) == "io.containerd.image.name" ||
        v.find_first_of(":/") != std::string::npos)
      return v;
  }
  return {};
}

}  // namespace

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kDockerArchive:
      return "docker-archive";
    case SourceKind::kOciArchive:
      return "oci-archive";
    case SourceKind::kOciLayout:
      return "OCI layout";
  }
  return "?";
}

mesh::Result<Source> InspectSource(const std::string& given) {
  std::error_code ec;
  const std::string path = std::filesystem::absolute(given, ec).lexically_normal().string();
  const std::string op = "load " + given;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return mesh::Status::FromErrno(op, errno);
  Source src;
  std::string error;
  if (S_ISDIR(st.st_mode)) {
    if (!std::filesystem::exists(path + "/oci-layout", ec))
      return mesh::Status::InvalidArgument(
          op, "a directory without an oci-layout file is not an OCI image layout");
    src.kind = SourceKind::kOciLayout;
    src.transport = "oci:" + path;
    auto index = mesh::ReadFileLimited(path + "/index.json", kMaxMetadata);
    if (!index.ok()) return index.status().WithContext(op);
    src.name = NameFromOciIndex(*index, error);
    if (!error.empty()) return mesh::Status::InvalidArgument(op, error);
    return src;
  }
  if (!S_ISREG(st.st_mode)) return mesh::Status::InvalidArgument(op, "not a file or directory");

  std::unique_ptr<archive, ReadDeleter> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return mesh::Status::InvalidArgument(op, "not a tar archive or OCI layout directory");
  std::optional<std::string> manifest, index;
  bool oci_layout = false;
  archive_entry* e = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* why = archive_error_string(a.get());
      return mesh::Status::InvalidArgument(
          op, std::string("not a readable tar archive: ") + (why != nullptr ? why : "?"));
    }
    auto name =
        CleanEntryPath(archive_entry_pathname(e) != nullptr ? archive_entry_pathname(e) : "");
    if (!name.ok()) continue;
    if (*name == "oci-layout") oci_layout = true;
    std::optional<std::string>* want = *name == "manifest.json" ? &manifest
                                       : *name == "index.json"  ? &index
                                                                : nullptr;
    if (want != nullptr && archive_entry_size(e) <= static_cast<la_int64_t>(kMaxMetadata)) {
      std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
      if (archive_read_data(a.get(), data.data(), data.size()) !=
          static_cast<la_ssize_t>(data.size()))
        return mesh::Status::InvalidArgument(op, "cannot read " + *name + " in the archive");
      *want = std::move(data);
    }
  }
  if (manifest) {
    src.kind = SourceKind::kDockerArchive;
    src.transport = "docker-archive:" + path;
    src.name = NameFromDockerManifest(*manifest, error);
  } else if (oci_layout && index) {
    src.kind = SourceKind::kOciArchive;
    src.transport = "oci-archive:" + path;
    src.name = NameFromOciIndex(*index, error);
  } else {
    return mesh::Status::InvalidArgument(
        op,
        "a tar without manifest.json (docker-archive) or oci-layout + index.json (oci-archive)");
  }
  if (!error.empty()) return mesh::Status::InvalidArgument(op, error);
  return src;
}

}  // namespace images::internal
