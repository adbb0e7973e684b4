#include "swarmlet/hwprofile.h"

#include "read_text.h"

#include <dirent.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace swarmlet {
namespace {

// Device-tree strings end in NUL; sysfs values end in a newline.
std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Join(const std::string& root, const char* path) {
  return root == "/" ? path : root + path;
}

std::string BoardModel(const std::string& root) {
  // Raspberry Pi and most ARM boards.
  if (auto model = Trimmed(internal::ReadText(Join(root, "/proc/device-tree/model"))); !model.empty()) {
    return model;
  }
  // PCs and servers.
  const auto vendor = Trimmed(internal::ReadText(Join(root, "/sys/class/dmi/id/sys_vendor")));
  const auto product = Trimmed(internal::ReadText(Join(root, "/sys/class/dmi/id/product_name")));
  if (!product.empty()) return vendor.empty() ? product : vendor + " " + product;
  return "unknown";
}

// "/sys/devices/system/cpu/online" is a range list like "0-3" or "0,2-5".
int OnlineCpus(const std::string& root) {
  std::istringstream ranges(Trimmed(internal::ReadText(Join(root, "/sys/devices/system/cpu/online"))));
  std::string range;
  int count = 0;
  while (std::getline(ranges, range, ',')) {
    int lo = 0, hi = 0;
    char dash = 0;
    std::istringstream r(range);
    if (!(r >> lo)) continue;
    hi = (r >> dash >> hi) ? hi : lo;
    count += hi >= lo ? hi - lo + 1 : 0;
  }
  return count;
}

std::int64_t MemTotalMb(const std::string& root) {
  std::istringstream lines(internal::ReadText(Join(root, "/proc/meminfo")));
  std::string key;
  std::int64_t kb = 0;
  while (lines >> key >> kb) {
    if (key == "MemTotal:") return kb / 1024;
    lines.ignore(64, '\n');
  }
  return 0;
}

// The NVIDIA driver lists each GPU under /proc/driver/nvidia/gpus/<bus id>/information.
void NvidiaGpu(const std::string& root, HardwareProfile& p) {
  const std::string dir = Join(root, "/proc/driver/nvidia/gpus");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    p.gpu = true;
    std::istringstream info(internal::ReadText(dir + "/" + e->d_name + "/information"));
    std::string line;
    while (std::getline(info, line)) {
      if (line.rfind("Model:", 0) == 0) {
        p.gpu_model = line.substr(line.find_first_not_of(" \t", 6));
        break;
      }
    }
    break;
  }
  closedir(d);
}

}  // namespace

HardwareProfile ReadHardwareProfile(const std::string& root, const std::string& state_dir) {
  HardwareProfile p;
  struct utsname uts {};
  p.arch = uname(&uts) == 0 ? uts.machine : "unknown";
  p.model = BoardModel(root);
  p.cores = OnlineCpus(root);
  if (p.cores == 0 && root == "/") p.cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  p.memory_mb = MemTotalMb(root);
  NvidiaGpu(root, p);
  struct statvfs fs {};
  if (statvfs(state_dir.c_str(), &fs) == 0) {
    p.disk_total_mb = static_cast<std::int64_t>(fs.f_blocks * fs.f_frsize / (1024 * 1024));
    p.disk_free_mb = static_cast<std::int64_t>(fs.f_bavail * fs.f_frsize / (1024 * 1024));
  }
  const std::string cgroup_root = Join(root, "/sys/fs/cgroup");
  p.cgroup_mode = DetectCgroupMode(cgroup_root);
  p.memory_controller = p.cgroup_mode != CgroupMode::kNone && MemoryControllerEnabled(cgroup_root);
  return p;
}

std::string HardwareProfileLogLine(const HardwareProfile& p) {
  return "Hardware profile: " + p.arch + ", " + std::to_string(p.cores) + " cores, " +
         std::to_string(p.memory_mb) + " MB, gpu=" + (p.gpu ? "yes" : "no");
}

}  // namespace swarmlet
