// libFuzzer target: the request head parser of the nodes' Prometheus endpoint
// (swarmlet/metrics_http.h), which anyone on the network can reach. Every
// input must route to one of the documented answers, and only a GET or HEAD
// of /metrics to 200. Build and run: see CMakeLists.txt here.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "swarmlet/metrics_http.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string head(reinterpret_cast<const char*>(data), size);
  const swarmlet::MetricsHttpRoute route = swarmlet::RouteMetricsRequest(head);
  switch (route.status) {
    case 200:
      if (head.rfind("GET /metrics", 0) != 0 && head.rfind("HEAD /metrics", 0) != 0) {
        fuzz::Fail("metrics request", "200 for something other than GET or HEAD of /metrics");
      }
      break;
    case 400:
    case 404:
    case 405:
      break;
    default:
      fuzz::Fail("metrics request", "a status the server does not document");
  }
  if (route.head_only && head.rfind("HEAD ", 0) != 0) fuzz::Fail("metrics request", "head_only without HEAD");
  return 0;
}
