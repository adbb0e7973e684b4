#include "swarmlet/discovery.h"

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/simple-watch.h>
#include <avahi-common/thread-watch.h>

#include <atomic>
#include <optional>
#include <mutex>

namespace swarmlet {
namespace {

// The Avahi error translation point.
mesh::Status AvahiError(std::string_view op, int error) {
  if (error == AVAHI_ERR_NO_DAEMON || error == AVAHI_ERR_DISCONNECTED) {
    return mesh::Status::Unavailable(op, avahi_strerror(error));
  }
  return mesh::Status::IoError(op, avahi_strerror(error));
}

std::map<std::string, std::string> ParseTxt(AvahiStringList* txt) {
  std::map<std::string, std::string> out;
  for (AvahiStringList* t = txt; t != nullptr; t = avahi_string_list_get_next(t)) {
    char* key = nullptr;
    char* value = nullptr;
    size_t size = 0;
    if (avahi_string_list_get_pair(t, &key, &value, &size) == 0) {
      out[key] = value != nullptr ? std::string(value, size) : "";
      avahi_free(key);
      avahi_free(value);
    }
  }
  return out;
}

struct BrowseState {
  AvahiClient* client = nullptr;
  const std::function<bool(const DiscoveredService&)>* accept = nullptr;
  std::optional<DiscoveredService> found;
  mesh::Status failure;
};

void OnResolved(AvahiServiceResolver* r, AvahiIfIndex, AvahiProtocol, AvahiResolverEvent event,
                const char* name, const char*, const char*, const char* host,
                const AvahiAddress* address, uint16_t port, AvahiStringList* txt,
                AvahiLookupResultFlags, void* userdata) {
  auto* st = static_cast<BrowseState*>(userdata);
  if (event == AVAHI_RESOLVER_FOUND && !st->found && address != nullptr &&
      address->proto == AVAHI_PROTO_INET) {
    char ip[AVAHI_ADDRESS_STR_MAX];
    avahi_address_snprint(ip, sizeof ip, address);
    DiscoveredService s{name, host != nullptr ? host : "", ip, port, ParseTxt(txt)};
    if ((*st->accept)(s)) st->found = std::move(s);
  }
  avahi_service_resolver_free(r);
}

void OnBrowse(AvahiServiceBrowser*, AvahiIfIndex interface, AvahiProtocol protocol,
              AvahiBrowserEvent event, const char* name, const char* type, const char* domain,
              AvahiLookupResultFlags, void* userdata) {
  auto* st = static_cast<BrowseState*>(userdata);
  if (event == AVAHI_BROWSER_NEW) {
    // IPv4 answers only; the resolver frees itself in OnResolved.
    if (avahi_service_resolver_new(st->client, interface, protocol, name, type, domain,
                                   AVAHI_PROTO_INET, static_cast<AvahiLookupFlags>(0),
                                   OnResolved, st) == nullptr) {
      st->failure = AvahiError("resolve", avahi_client_errno(st->client));
    }
  } else if (event == AVAHI_BROWSER_FAILURE) {
    st->failure = AvahiError("browse", avahi_client_errno(st->client));
  }
}

}  // namespace

mesh::Result<DiscoveredService> Browse(
    const std::function<bool(const DiscoveredService&)>& accept,
    std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  std::unique_ptr<AvahiSimplePoll, decltype(&avahi_simple_poll_free)> poll(
      avahi_simple_poll_new(), avahi_simple_poll_free);
  if (!poll) return mesh::Status::Internal("mDNS browse", "avahi_simple_poll_new failed");

  BrowseState st;
  st.accept = &accept;
  int error = 0;
  std::unique_ptr<AvahiClient, decltype(&avahi_client_free)> client(
      avahi_client_new(avahi_simple_poll_get(poll.get()), static_cast<AvahiClientFlags>(0),
                       [](AvahiClient*, AvahiClientState, void*) {}, nullptr, &error),
      avahi_client_free);
  if (!client) return AvahiError("mDNS browse: connect to the Avahi daemon", error);
  st.client = client.get();
  AvahiServiceBrowser* browser = avahi_service_browser_new(
      client.get(), AVAHI_IF_UNSPEC, AVAHI_PROTO_INET, kServiceType, nullptr,
      static_cast<AvahiLookupFlags>(0), OnBrowse, &st);
  if (browser == nullptr) return AvahiError("mDNS browse", avahi_client_errno(client.get()));

  while (!st.found && st.failure.ok()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    // Wakes on every daemon message; never sleeps past the deadline.
    if (avahi_simple_poll_iterate(poll.get(), static_cast<int>(left.count())) != 0) break;
  }
  avahi_service_browser_free(browser);
  if (st.found) return std::move(*st.found);
  if (!st.failure.ok()) return st.failure;
  return mesh::Status::Timeout(
      "mDNS browse", "no matching " + std::string(kServiceType) + " service found within " +
                         std::to_string(timeout.count()) + " ms");
}

struct ServicePublisher::State {
  AvahiThreadedPoll* poll = nullptr;
  AvahiClient* client = nullptr;
  AvahiEntryGroup* group = nullptr;
  std::string instance;  // guarded by the poll lock
  std::uint16_t port = 0;
  std::map<std::string, std::string> txt;
  std::atomic<bool> established{false};

  ~State() {
    if (poll != nullptr) avahi_threaded_poll_stop(poll);
    if (client != nullptr) avahi_client_free(client);  // frees the group too
    if (poll != nullptr) avahi_threaded_poll_free(poll);
  }

  // Runs on the poll thread (from callbacks) or under the poll lock.
  void Register() {
    if (group == nullptr) {
      group = avahi_entry_group_new(client, OnGroup, this);
      if (group == nullptr) return;
    }
    if (!avahi_entry_group_is_empty(group)) return;
    AvahiStringList* records = nullptr;
    for (const auto& [k, v] : txt) records = avahi_string_list_add_pair(records, k.c_str(), v.c_str());
    int rc = avahi_entry_group_add_service_strlst(
        group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET, static_cast<AvahiPublishFlags>(0),
        instance.c_str(), kServiceType, nullptr, nullptr, port, records);
    avahi_string_list_free(records);
    if (rc == AVAHI_ERR_COLLISION) {
      Rename();
      return;
    }
    if (rc == 0) avahi_entry_group_commit(group);
  }

  void Rename() {
    char* alt = avahi_alternative_service_name(instance.c_str());
    instance = alt;
    avahi_free(alt);
    avahi_entry_group_reset(group);
    Register();
  }

  static void OnGroup(AvahiEntryGroup* g, AvahiEntryGroupState state, void* userdata) {
    auto* self = static_cast<State*>(userdata);
    self->group = g;
    if (state == AVAHI_ENTRY_GROUP_ESTABLISHED) self->established = true;
    if (state == AVAHI_ENTRY_GROUP_COLLISION) self->Rename();
  }

  static void OnClient(AvahiClient* c, AvahiClientState state, void* userdata) {
    auto* self = static_cast<State*>(userdata);
    self->client = c;
    if (state == AVAHI_CLIENT_S_RUNNING) {
      self->Register();
    } else if (state == AVAHI_CLIENT_S_COLLISION || state == AVAHI_CLIENT_S_REGISTERING) {
      self->established = false;
      if (self->group != nullptr) avahi_entry_group_reset(self->group);
    }
  }
};

ServicePublisher::ServicePublisher(std::unique_ptr<State> state) : state_(std::move(state)) {}
ServicePublisher::~ServicePublisher() = default;

mesh::Result<std::unique_ptr<ServicePublisher>> ServicePublisher::Start(
    std::string instance, std::uint16_t port, std::map<std::string, std::string> txt) {
  auto st = std::make_unique<State>();
  st->instance = std::move(instance);
  st->port = port;
  st->txt = std::move(txt);
  st->poll = avahi_threaded_poll_new();
  if (st->poll == nullptr) return mesh::Status::Internal("mDNS publish", "avahi_threaded_poll_new failed");
  int error = 0;
  // Without AVAHI_CLIENT_NO_FAIL: a missing daemon is reported now, so `serve` can warn.
  st->client = avahi_client_new(avahi_threaded_poll_get(st->poll), static_cast<AvahiClientFlags>(0),
                                State::OnClient, st.get(), &error);
  if (st->client == nullptr) return AvahiError("mDNS publish: connect to the Avahi daemon", error);
  if (avahi_threaded_poll_start(st->poll) < 0) {
    return mesh::Status::Internal("mDNS publish", "cannot start the Avahi poll thread");
  }
  return std::unique_ptr<ServicePublisher>(new ServicePublisher(std::move(st)));
}

bool ServicePublisher::Established() const { return state_->established; }

std::string ServicePublisher::Instance() const {
  avahi_threaded_poll_lock(state_->poll);
  std::string name = state_->instance;
  avahi_threaded_poll_unlock(state_->poll);
  return name;
}

}  // namespace swarmlet
