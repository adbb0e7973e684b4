// The transport's shared allow-list (issue 20) and the compact per-member
// state built on it: the inbound filter's replay windows, the datagram
// channel's keys, a peer's UDP address.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include <array>
#include <catch2/catch.hpp>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "allow_list.h"
#include "datagram_channel.h"
#include "mesh/envelope.h"
#include "transport_internal.h"

using mesh::AuthorizedKey;
using mesh::TransportKey;
using mesh::internal::AllowList;

namespace {

TransportKey Key(std::uint8_t first, std::uint8_t last = 0) {
  TransportKey key{};
  key[0] = first;
  key[31] = last;
  return key;
}

std::shared_ptr<const AllowList> Built(const std::vector<AuthorizedKey>& keys) {
  auto list = AllowList::Build(keys);
  REQUIRE(list.ok());
  return *list;
}

std::string ErrorOf(const std::vector<AuthorizedKey>& keys) {
  auto list = AllowList::Build(keys);
  REQUIRE_FALSE(list.ok());
  CHECK(list.status().code() == mesh::StatusCode::kInvalidArgument);
  return list.status().message();
}

std::string Encoded(const std::string& sender, std::uint64_t seq) {
  mesh::Envelope env;
  env.sender = sender;
  env.seq = seq;
  auto bytes = mesh::Encode(env);
  REQUIRE(bytes.ok());
  return *bytes;
}

}  // namespace

TEST_CASE("AllowList: looks members up by key and by id", "[mesh][transport]") {
  // Not in key order, nor in id order.
  const auto list =
      Built({{"rpi-2", Key(9)}, {"gpu", Key(3, 1)}, {"rpi-10", Key(3)}, {"a", Key(200)}});
  CHECK(list->size() == 4);
  CHECK(list->IdForKey(Key(9)) == "rpi-2");
  CHECK(list->IdForKey(Key(3, 1)) == "gpu");
  CHECK(list->IdForKey(Key(3)) == "rpi-10");
  CHECK(list->IdForKey(Key(200)) == "a");
  CHECK_FALSE(list->IdForKey(Key(4)).has_value());
  REQUIRE(list->KeyForId("gpu") != nullptr);
  CHECK(*list->KeyForId("gpu") == Key(3, 1));
  CHECK(*list->KeyForId("rpi-10") == Key(3));
  CHECK(*list->KeyForId("a") == Key(200));
  CHECK(list->KeyForId("rpi-1") == nullptr);  // a prefix of a member's id is not that member
  CHECK_FALSE(list->ContainsId("rpi-"));
  CHECK_FALSE(list->ContainsId(""));
  CHECK(list->ContainsId("rpi-2"));

  const auto empty = AllowList::Empty();
  CHECK(empty->size() == 0);
  CHECK_FALSE(empty->IdForKey(Key(9)).has_value());
  CHECK_FALSE(empty->ContainsId("rpi-2"));
}

TEST_CASE("AllowList: refuses what the transports refuse, naming the first bad entry",
          "[mesh][transport]") {
  CHECK(ErrorOf({{"", Key(1)}}) == "set authorized keys: member id must be 1..64 bytes");
  CHECK(ErrorOf({{std::string(65, 'x'), Key(1)}}) ==
        "set authorized keys: member id must be 1..64 bytes");
  CHECK(ErrorOf({{"b", Key(1)}, {"a", Key(2)}, {"b", Key(3)}}) ==
        "set authorized keys: member id 'b' appears twice");
  CHECK(ErrorOf({{"b", Key(1)}, {"a", Key(1)}}) ==
        "set authorized keys: the key of 'a' is also another member's");
  // In input order: the key repeated at the 2nd entry comes before the id
  // repeated at the 3rd, and an entry repeating both is named for its id.
  CHECK(ErrorOf({{"z", Key(1)}, {"y", Key(1)}, {"z", Key(2)}}) ==
        "set authorized keys: the key of 'y' is also another member's");
  CHECK(ErrorOf({{"z", Key(1)}, {"z", Key(1)}}) ==
        "set authorized keys: member id 'z' appears twice");
  CHECK(ErrorOf({{"z", Key(1)}, {"z", Key(2)}, {"", Key(3)}}) ==
        "set authorized keys: member id 'z' appears twice");
  CHECK(AllowList::Build({}).ok());
}

TEST_CASE("AllowList: a holder of the old list reads it unchanged after a replace",
          "[mesh][transport]") {
  mesh::internal::TransportCounters counters;
  mesh::internal::InboundFilter routed(counters), datagrams(counters);
  const auto first = Built({{"rpi-1", Key(1)}, {"rpi-2", Key(2)}});
  routed.SetAuthorized(first);
  datagrams.SetAuthorized(first);
  CHECK(routed.allowed() == datagrams.allowed());  // one list, not a copy each

  std::shared_ptr<const AllowList> reader = routed.allowed();  // e.g. the ZAP thread mid-request
  const auto id = reader->IdForKey(Key(2));
  routed.SetAuthorized(Built({{"rpi-1", Key(1)}, {"rpi-3", Key(3)}}));

  CHECK_FALSE(routed.IdForKey(Key(2)).has_value());
  CHECK(routed.IdForKey(Key(3)) == "rpi-3");
  CHECK(id == "rpi-2");  // the view into the old list is still good
  CHECK(reader->IdForKey(Key(2)) == "rpi-2");
  CHECK_FALSE(reader->IdForKey(Key(3)).has_value());
  CHECK(datagrams.IdForKey(Key(2)) == "rpi-2");  // not swapped yet
}

TEST_CASE("InboundFilter: replay windows per sender, heard in any order", "[mesh][transport]") {
  mesh::internal::TransportCounters counters;
  mesh::internal::InboundFilter filter(counters);
  REQUIRE(filter.SetAuthorized({{"c", Key(3)}, {"a", Key(1)}, {"b", Key(2)}}).ok());
  std::deque<mesh::Envelope> out;
  for (const char* sender : {"c", "a", "b"}) filter.Accept(sender, Encoded(sender, 100), out);
  CHECK(out.size() == 3);
  for (const char* sender : {"b", "c", "a"}) filter.Accept(sender, Encoded(sender, 100), out);
  CHECK(out.size() == 3);
  CHECK(counters.rejected_replay.load() == 3);
  for (const char* sender : {"a", "b", "c"}) filter.Accept(sender, Encoded(sender, 99), out);
  CHECK(out.size() == 6);

  // A member removed and added again keeps its window.
  REQUIRE(filter.SetAuthorized({{"a", Key(1)}}).ok());
  filter.Accept("b", Encoded("b", 101), out);
  CHECK(counters.rejected_unauthorized.load() == 1);
  REQUIRE(filter.SetAuthorized({{"a", Key(1)}, {"b", Key(2)}}).ok());
  filter.Accept("b", Encoded("b", 100), out);
  CHECK(counters.rejected_replay.load() == 4);
}

TEST_CASE("DatagramChannel: opens datagrams of the members on the list it shares",
          "[mesh][transport]") {
  using Got = mesh::internal::DatagramChannel::Got;
  auto gpu_keys = mesh::GenerateTransportKeyPair();
  REQUIRE(gpu_keys.ok());
  std::vector<mesh::TransportKeyPair> rpis;
  std::vector<AuthorizedKey> allowed;
  for (int i = 0; i < 40; ++i) {  // enough that the channel's key table grows a few times
    auto keys = mesh::GenerateTransportKeyPair();
    REQUIRE(keys.ok());
    rpis.push_back(*keys);
    allowed.push_back({"rpi-" + std::to_string(i), keys->public_key});
  }
  mesh::internal::TransportCounters counters;
  auto gpu = mesh::internal::DatagramChannel::Unbound("gpu", true, *gpu_keys, counters);
  REQUIRE(gpu);
  // A sealed datagram from member i, as its channel's Send() writes it.
  const auto sealed = [&](int i, std::uint64_t nonce_counter) {
    const std::string id = "rpi-" + std::to_string(i);
    const std::string body = Encoded(id, nonce_counter);
    std::string d = "SSD1" + std::string(1, static_cast<char>(id.size())) + id;
    std::array<unsigned char, crypto_box_NONCEBYTES> nonce{};
    nonce[0] = static_cast<unsigned char>(nonce_counter);
    d.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
    std::string box(crypto_box_MACBYTES + body.size(), '\0');
    REQUIRE(crypto_box_easy(reinterpret_cast<unsigned char*>(box.data()),
                            reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                            nonce.data(), gpu_keys->public_key.data(),
                            rpis[static_cast<std::size_t>(i)].secret_key.data()) == 0);
    return d + box;
  };
  std::string sender, envelope;

  gpu->SetAuthorized(Built(allowed));
  for (int i : {7, 0, 39, 12, 7}) {  // keys derived in no particular order, one reused
    REQUIRE(gpu->Unseal(sealed(i, 1), sender, envelope) == Got::kOpened);
    CHECK(sender == "rpi-" + std::to_string(i));
    CHECK(envelope == Encoded(sender, 1));
  }
  for (int i = 0; i < 40; ++i) REQUIRE(gpu->Unseal(sealed(i, 2), sender, envelope) == Got::kOpened);

  // A datagram that names rpi-1 but was sealed with rpi-2's key does not open.
  std::string forged = sealed(2, 3);
  forged.replace(5, 5, "rpi-1");
  CHECK(gpu->Unseal(forged, sender, envelope) == Got::kRejected);
  CHECK(counters.rejected_unauthorized.load() == 1);

  // Off the list: refused; back on it: opened again.
  gpu->SetAuthorized(Built({allowed[3]}));
  CHECK(gpu->Unseal(sealed(7, 4), sender, envelope) == Got::kRejected);
  CHECK(counters.rejected_unauthorized.load() == 2);
  CHECK(gpu->Unseal(sealed(3, 4), sender, envelope) == Got::kOpened);
  gpu->SetAuthorized(Built(allowed));
  CHECK(gpu->Unseal(sealed(7, 5), sender, envelope) == Got::kOpened);
}

TEST_CASE("UdpAddressOf: a compact address of either family", "[mesh][transport]") {
  auto v4 = mesh::internal::UdpAddressOf("tcp://10.0.0.7:7946");
  REQUIRE(v4.has_value());
  CHECK(v4->addr.any.sa_family == AF_INET);
  CHECK(v4->length == sizeof(sockaddr_in));
  CHECK(ntohs(v4->addr.v4.sin_port) == 7946);
  auto v6 = mesh::internal::UdpAddressOf("tcp://[fd00::1]:7946");
  REQUIRE(v6.has_value());
  CHECK(v6->addr.any.sa_family == AF_INET6);
  CHECK(v6->length == sizeof(sockaddr_in6));
  CHECK(ntohs(v6->addr.v6.sin6_port) == 7946);
  CHECK_FALSE(mesh::internal::UdpAddressOf("tcp://gpu.local:7946").has_value());
  CHECK(sizeof(mesh::internal::UdpAddress) <= 32);
}
