// mDNS/DNS-SD discovery of the GPU peer through the Avahi daemon.
//
// The GPU peer publishes `_stratoswarm._tcp` with TXT records (protocol
// version, fingerprint prefix, CURVE public key, ports); a joining swarmlet
// browses, resolves each instance over IPv4 only (a resolve can otherwise
// return an IPv6 link-local address) and takes the FIRST instance whose
// records satisfy its predicate — it does not wait for Avahi's "all for now",
// which comes a second after the query starts.
//
// Both talk to the system Avahi daemon over D-Bus (DBUS_SYSTEM_BUS_ADDRESS
// selects the bus). Errors carry Avahi's own message ("Daemon not running").
//
// Thread safety: Browse() is self-contained and may run on any thread.
// A ServicePublisher runs Avahi's callbacks on its own thread; its methods may
// be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "mesh/status.h"

namespace swarmlet {

inline constexpr const char* kServiceType = "_stratoswarm._tcp";

struct DiscoveredService {
  std::string instance;                    // "stratoswarm-primary on gpu-ws"
  std::string host;                        // "gpu-ws.local"
  std::string address;                     // IPv4, dotted quad
  std::uint16_t port = 0;
  std::map<std::string, std::string> txt;  // key=value records
};

// Returns the first resolved instance that `accept` takes, or Timeout after
// `timeout` (nothing matched), or Unavailable when no Avahi daemon answers.
mesh::Result<DiscoveredService> Browse(
    const std::function<bool(const DiscoveredService&)>& accept,
    std::chrono::milliseconds timeout);

// Publishes one `_stratoswarm._tcp` instance for as long as it lives,
// renaming it on a name collision (avahi_alternative_service_name). If the
// daemon goes away the instance is gone until the publisher is recreated.
class ServicePublisher {
 public:
  ~ServicePublisher();
  ServicePublisher(const ServicePublisher&) = delete;
  ServicePublisher& operator=(const ServicePublisher&) = delete;

  // Unavailable when no Avahi daemon answers.
  static mesh::Result<std::unique_ptr<ServicePublisher>> Start(
      std::string instance, std::uint16_t port, std::map<std::string, std::string> txt);

  // True once the daemon confirmed the name (probing takes ~1 s on a LAN).
  bool Established() const;
  // The instance name in use (differs from the requested one after a collision).
  std::string Instance() const;

  struct State;  // Avahi objects and the poll thread; defined in discovery.cpp

 private:
  explicit ServicePublisher(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace swarmlet
