// Helpers for the executor tests: temp dirs, the helper binary, and a guard
// that leaves no cgroup or process behind even when an assertion fails.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace executor_test {

inline std::string MakeTempDir(const std::string& tag) {
  std::string templ = "/tmp/stratoswarm-" + tag + "-XXXXXX";
  char* dir = ::mkdtemp(templ.data());
  return dir ? std::string(dir) : std::string();
}

inline void RemoveTree(const std::string& path) {
  if (path.size() < 6) return;
  std::string cmd = "rm -rf '" + path + "'";
  [[maybe_unused]] int rc = std::system(cmd.c_str());
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A node name no other test process uses, so parallel ctest runs never
// share a cgroup parent.
inline std::string UniqueNode(const std::string& tag) {
  return "test-" + tag + "-" + std::to_string(::getpid());
}

// Where stratoswarm/ may live: each v1 hierarchy, and "" for the v2 root.
inline std::vector<std::string> V1Hierarchies() {
  return {"cpu", "cpuacct", "memory", "pids", "cpuset", ""};
}

// Kills every process in, and removes, /sys/fs/cgroup/*/stratoswarm/<node>.
inline void ScrubNode(const std::string& node) {
  for (const auto& h : V1Hierarchies()) {
    const std::string base = "/sys/fs/cgroup/" + h + "/stratoswarm/" + node;
    DIR* d = ::opendir(base.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> children;
    while (dirent* e = ::readdir(d)) {
      if (e->d_type == DT_DIR && e->d_name[0] != '.') children.push_back(base + "/" + e->d_name);
    }
    ::closedir(d);
    for (const auto& c : children) {
      for (int i = 0; i < 200; ++i) {
        std::istringstream procs(ReadAll(c + "/cgroup.procs"));
        pid_t pid;
        bool any = false;
        while (procs >> pid) {
          ::kill(pid, SIGKILL);
          any = true;
        }
        if (!any && ::rmdir(c.c_str()) == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    ::rmdir(base.c_str());
    ::rmdir(("/sys/fs/cgroup/" + h + "/stratoswarm").c_str());
  }
}

// True when any hierarchy still has stratoswarm/<node>.
inline bool NodeCgroupsLeft(const std::string& node) {
  for (const auto& h : V1Hierarchies()) {
    if (Exists("/sys/fs/cgroup/" + h + "/stratoswarm/" + node)) return true;
  }
  return false;
}

// True when a workload cgroup is left under stratoswarm/<node> (the
// node's own directory stays while its executor lives).
inline bool WorkloadCgroupsLeft(const std::string& node) {
  for (const auto& h : V1Hierarchies()) {
    DIR* d = ::opendir(("/sys/fs/cgroup/" + h + "/stratoswarm/" + node).c_str());
    if (d == nullptr) continue;
    bool any = false;
    while (dirent* e = ::readdir(d)) any = any || (e->d_type == DT_DIR && e->d_name[0] != '.');
    ::closedir(d);
    if (any) return true;
  }
  return false;
}

struct NodeGuard {
  explicit NodeGuard(std::string n) : node(std::move(n)) {}
  NodeGuard(const NodeGuard&) = delete;
  NodeGuard& operator=(const NodeGuard&) = delete;
  std::string node;
  std::vector<pid_t> pids;
  ~NodeGuard() {
    for (pid_t p : pids) ::kill(p, SIGKILL);
    ScrubNode(node);
  }
};

// A busybox image in `images_dir`/busybox (what scripts/make_busybox_image.sh
// makes, with only the applets a test uses). False without busybox.
inline bool MakeBusyboxImage(const std::string& images_dir, std::initializer_list<const char*> applets) {
  if (!Exists("/bin/busybox")) return false;
  const std::string root = images_dir + "/busybox";
  std::filesystem::create_directories(root + "/bin");
  std::filesystem::copy_file("/bin/busybox", root + "/bin/busybox",
                             std::filesystem::copy_options::overwrite_existing);
  for (const char* applet : applets) std::filesystem::create_symlink("busybox", root + "/bin/" + applet);
  return true;
}

struct TempDirGuard {
  explicit TempDirGuard(std::string p) : path(std::move(p)) {}
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  std::string path;
  ~TempDirGuard() { RemoveTree(path); }
};

}  // namespace executor_test
