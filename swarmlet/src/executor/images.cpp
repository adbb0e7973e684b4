#include "swarmlet/executor/images.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>

namespace swarmlet::executor {
namespace {

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A rootfs has a bin/ (every image that can run a command does).
std::string RootfsOf(const std::string& dir) {
  if (IsDir(dir + "/rootfs/bin")) return dir + "/rootfs";
  if (IsDir(dir + "/bin")) return dir;
  return "";
}

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

}  // namespace

std::vector<std::string> ListImages(const std::string& images_dir) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(images_dir.c_str());
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (!RootfsOf(images_dir + "/" + e->d_name).empty()) out.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

mesh::Result<std::string> ResolveImage(const std::string& images_dir,
                                       const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos) {
    const std::string rootfs = RootfsOf(name_or_path);
    if (rootfs.empty()) {
      return mesh::Status::NotFound("image " + name_or_path, "not a root filesystem (no bin/)");
    }
    return Absolute(rootfs);
  }
  if (!name_or_path.empty() && name_or_path != "." && name_or_path != "..") {
    const std::string rootfs = RootfsOf(images_dir + "/" + name_or_path);
    if (!rootfs.empty()) return Absolute(rootfs);
  }
  std::string local;
  for (const auto& name : ListImages(images_dir)) local += (local.empty() ? "" : ", ") + name;
  return mesh::Status::NotFound(
      "image " + name_or_path,
      "no such local image in " + images_dir + " (local images: " + (local.empty() ? "none" : local) + ")");
}

}  // namespace swarmlet::executor
