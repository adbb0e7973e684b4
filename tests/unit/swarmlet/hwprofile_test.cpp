#include "swarmlet/hwprofile.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fake_root.h"


TEST_CASE("hwprofile: a Raspberry Pi 4 from its device tree", "[swarmlet][hwprofile]") {
  FakeRoot pi;
  pi.Write("/proc/device-tree/model", std::string("Raspberry Pi 4 Model B Rev 1.4\0", 31));
  pi.Write("/sys/devices/system/cpu/online", "0-3\n");
  pi.Write("/proc/meminfo", "MemTotal:        3884772 kB\nMemFree:          123 kB\n");
  const auto p = swarmlet::ReadHardwareProfile(pi.root(), pi.root());
  CHECK(p.model == "Raspberry Pi 4 Model B Rev 1.4");
  CHECK(p.cores == 4);
  CHECK(p.memory_mb == 3793);
  CHECK_FALSE(p.gpu);
  CHECK(p.cgroup_mode == swarmlet::CgroupMode::kNone);  // the fake tree has no cgroupfs
  CHECK(p.disk_total_mb > 0);
  CHECK(swarmlet::HardwareProfileLogLine(p) ==
        "Hardware profile: " + p.arch + ", 4 cores, 3793 MB, gpu=no");
}

TEST_CASE("hwprofile: a workstation with DMI and an NVIDIA GPU", "[swarmlet][hwprofile]") {
  FakeRoot ws;
  ws.Write("/sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
  ws.Write("/sys/class/dmi/id/product_name", "Precision 7920 Tower\n");
  ws.Write("/sys/devices/system/cpu/online", "0-7,16-23\n");
  ws.Write("/proc/meminfo", "MemTotal:       131072000 kB\n");
  ws.Write("/proc/driver/nvidia/gpus/0000:65:00.0/information",
           "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   150\n");
  const auto p = swarmlet::ReadHardwareProfile(ws.root(), ws.root());
  CHECK(p.model == "Dell Inc. Precision 7920 Tower");
  CHECK(p.cores == 16);
  CHECK(p.memory_mb == 128000);
  CHECK(p.gpu);
  CHECK(p.gpu_model == "NVIDIA H100 80GB HBM3");
  CHECK_THAT(swarmlet::HardwareProfileLogLine(p), Catch::EndsWith("16 cores, 128000 MB, gpu=yes"));
}

TEST_CASE("hwprofile: an empty tree gives unknowns, not a crash", "[swarmlet][hwprofile]") {
  FakeRoot empty;
  const auto p = swarmlet::ReadHardwareProfile(empty.root(), empty.root() + "/missing");
  CHECK(p.model == "unknown");
  CHECK(p.cores == 0);
  CHECK(p.memory_mb == 0);
  CHECK(p.disk_total_mb == 0);
}

TEST_CASE("hwprofile: this machine", "[swarmlet][hwprofile]") {
  const auto p = swarmlet::ReadHardwareProfile();
  CHECK(p.cores >= 1);
  CHECK(p.memory_mb > 0);
  CHECK_FALSE(p.arch.empty());
}
