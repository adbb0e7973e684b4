// A throwaway fake root (--hw-root) holding only the files a test writes:
// Write("/sys/class/thermal/thermal_zone0/temp", "52000\n"). Removed with
// the object.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

struct FakeRoot {
  std::filesystem::path dir;
  FakeRoot() {
    char tmpl[] = "/tmp/fake-root-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~FakeRoot() { std::filesystem::remove_all(dir); }
  FakeRoot(const FakeRoot&) = delete;
  FakeRoot& operator=(const FakeRoot&) = delete;
  void Write(const std::string& path, const std::string& content) {
    std::filesystem::create_directories((dir / path.substr(1)).parent_path());
    std::ofstream(dir / path.substr(1), std::ios::binary) << content;
  }
  std::string root() const { return dir.string(); }
};
