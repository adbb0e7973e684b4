#include "serve/image_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "scheduler/constraint.h"

namespace gpu_node {
namespace {

using api::Json;
using mesh::Result;
using mesh::Status;

bool HasKey(const std::vector<std::string>& env, const std::string& entry) {
  const std::string key = entry.substr(0, entry.find('=') + 1);
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(key, 0) == 0; });
}

std::string Mb(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

}  // namespace

Result<ImageService::Resolved> ImageService::Resolve(const std::string& ref) const {
  auto record = store_.Resolve(ref);
  if (!record.ok()) return record.status();
  Resolved out;
  out.ref = record->RefString();
  for (const auto& p : record->platforms) {
    if (p.os == "linux") out.archs.push_back(p.architecture);
  }
  return out;
}

Status ImageService::FillStart(const std::string& ref, const std::string& node_arch,
                               swarmlet::WorkloadStartSpec& spec) const {
  auto record = store_.Resolve(ref);
  if (!record.ok()) return record.status();
  const std::string arch = scheduler::OciArchOf(node_arch);
  const images::PlatformImage* p = nullptr;
  for (const auto& candidate : record->platforms) {
    if (candidate.os == "linux" && candidate.architecture == arch) p = &candidate;
  }
  if (p == nullptr) {
    return Status::NotFound("image " + record->RefString(), "has no linux/" + arch + " image");
  }
  if (!p->user_error.empty()) {
    return Status::InvalidArgument("image " + record->RefString(), p->user_error);
  }
  const images::ImageConfig& c = p->config;
  std::vector<std::string> argv = c.entrypoint;
  const std::vector<std::string>& args = spec.argv.empty() ? c.cmd : spec.argv;
  argv.insert(argv.end(), args.begin(), args.end());
  if (argv.empty()) {
    return Status::InvalidArgument("image " + record->RefString(),
                                   "has no Entrypoint or Cmd: give a command (stratoswarm run IMAGE CMD...)");
  }
  std::vector<std::string> env = spec.env;
  for (const auto& e : c.env) {
    if (!HasKey(env, e)) env.push_back(e);
  }
  if (!HasKey(env, "PATH=")) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  spec.image = record->RefString();
  spec.image_digest = p->squashfs_digest;
  spec.image_bytes = p->squashfs_size;
  spec.argv = std::move(argv);
  spec.env = std::move(env);
  spec.cwd = c.working_dir;
  if (spec.uid < 0) {  // no --user: the image's User
    spec.uid = p->user.uid;
    spec.gid = p->user.gid;
    spec.groups = p->user.groups;
  }
  spec.stop_signal = c.stop_signal.empty() ? 0 : std::max(0, images::StopSignalNumber(c.stop_signal));
  return Status::Ok();
}

swarmlet::ImageChunk ImageService::ServeFetch(const swarmlet::ImageFetch& f) const {
  swarmlet::ImageChunk c;
  c.request_id = f.request_id;
  c.digest = f.digest;
  c.offset = f.offset;
  auto path = store_.SquashfsPath(f.digest);
  if (!path.ok()) {
    c.error = "image " + f.digest.substr(0, 19) + " is not on the GPU peer (removed?)";
    return c;
  }
  const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    c.error = "read image " + f.digest.substr(0, 19) + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return c;
  }
  c.total_bytes = static_cast<std::uint64_t>(st.st_size);
  if (f.offset < c.total_bytes) {
    c.data.resize(std::min<std::uint64_t>(f.max_bytes, c.total_bytes - f.offset));
    std::size_t got = 0;
    while (got < c.data.size()) {
      const ssize_t n = ::pread(fd, c.data.data() + got, c.data.size() - got, static_cast<off_t>(f.offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    c.data.resize(got);
  }
  ::close(fd);
  return c;
}

void ImageService::SetNodeImages(const std::string& node_name, const std::vector<std::string>& digests) {
  std::lock_guard lock(mu_);
  node_images_[node_name] = std::set<std::string>(digests.begin(), digests.end());
}

std::map<std::string, api::Handler> ImageService::ApiHandlers() {
  std::map<std::string, api::Handler> h;
  auto record_json = [this](const images::ImageRecord& r) {
    Json platforms = Json::array();
    std::uint64_t size = 0;
    std::set<std::string> nodes;
    {
      std::lock_guard lock(mu_);
      for (const auto& p : r.platforms) {
        for (const auto& [node, digests] : node_images_) {
          if (digests.contains(p.squashfs_digest)) nodes.insert(node);
        }
      }
    }
    for (const auto& p : r.platforms) {
      size += p.squashfs_size;
      platforms.push_back({{"platform", p.PlatformString()}, {"manifest", p.manifest_digest},
                           {"config", p.config_digest}, {"squashfs", p.squashfs_digest},
                           {"squashfs_bytes", p.squashfs_size}, {"layers", p.layers},
                           {"entrypoint", p.config.entrypoint}, {"cmd", p.config.cmd},
                           {"env", p.config.env}, {"working_dir", p.config.working_dir},
                           {"user", p.config.user}, {"uid", p.user.uid}, {"gid", p.user.gid},
                           {"user_error", p.user_error}, {"stop_signal", p.config.stop_signal}});
    }
    return Json{{"ref", r.RefString()}, {"name", r.name},       {"tag", r.tag},
                {"digest", r.digest},   {"created", r.created}, {"bytes", size},
                {"size", Mb(size)},     {"nodes", std::vector<std::string>(nodes.begin(), nodes.end())},
                {"platforms", platforms}};
  };
  h["image-load"] = [this, record_json](const Json& r) -> Result<Json> {
    images::LoadOptions o;
    o.name = r.value("name", "");
    auto record = store_.Load(r.value("path", ""), o);
    if (!record.ok()) return record.status();
    return record_json(*record);
  };
  h["image-pull"] = [this, record_json](const Json& r) -> Result<Json> {
    images::PullOptions o;
    o.tls_verify = r.value("tls_verify", true);
    auto record = store_.Pull(r.value("ref", ""), o);
    if (!record.ok()) return record.status();
    return record_json(*record);
  };
  h["image-ls"] = [this, record_json](const Json&) -> Result<Json> {
    Json out = Json::array();
    for (const auto& r : store_.List()) out.push_back(record_json(r));
    return out;
  };
  h["image-inspect"] = [this, record_json](const Json& r) -> Result<Json> {
    auto record = store_.Resolve(r.value("ref", ""));
    if (!record.ok()) return record.status();
    return record_json(*record);
  };
  h["image-rm"] = [this](const Json& r) -> Result<Json> {
    const std::string ref = r.value("ref", "");
    auto record = store_.Resolve(ref);
    if (!record.ok()) return record.status();
    MESH_RETURN_IF_ERROR(store_.Remove(ref));
    return Json{{"ref", record->RefString()}, {"digest", record->digest}};
  };
  return h;
}

}  // namespace gpu_node
