// Drives swarmlet discovery from the netns test (netns_discovery_test.sh):
//   discovery_tool publish NAME PORT [KEY=VALUE...]   publish until killed
//   discovery_tool browse FINGERPRINT_PREFIX TIMEOUT_MS
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "swarmlet/discovery.h"

namespace {

int Publish(int argc, char** argv) {
  std::map<std::string, std::string> txt;
  for (int i = 4; i < argc; ++i) {
    std::string kv = argv[i];
    const auto eq = kv.find('=');
    txt[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  auto pub = swarmlet::ServicePublisher::Start(argv[2], static_cast<std::uint16_t>(std::atoi(argv[3])),
                                               txt);
  if (!pub.ok()) {
    std::cerr << "discovery_tool: " << pub.status().ToString() << "\n";
    return 1;
  }
  while (!(*pub)->Established()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::cout << "published " << (*pub)->Instance() << std::endl;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}

int BrowseFor(char** argv) {
  const std::string prefix = argv[2];
  const auto start = std::chrono::steady_clock::now();
  auto found = swarmlet::Browse(
      [&](const swarmlet::DiscoveredService& s) {
        auto fp = s.txt.find("fp");
        return fp != s.txt.end() && fp->second.rfind(prefix, 0) == 0;
      },
      std::chrono::milliseconds(std::atoi(argv[3])));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!found.ok()) {
    std::cout << "discovery_tool: " << found.status().ToString() << "\n";
    return 1;
  }
  std::cout << "found '" << found->instance << "' " << found->address << ":" << found->port
            << " fp=" << found->txt["fp"] << " in " << ms << " ms\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "publish" && argc >= 4) return Publish(argc, argv);
  if (cmd == "browse" && argc == 4) return BrowseFor(argv);
  std::cerr << "usage: discovery_tool publish NAME PORT [K=V...] | browse FP_PREFIX TIMEOUT_MS\n";
  return 2;
}
