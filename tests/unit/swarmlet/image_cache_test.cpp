// The node's image cache against a fake GPU peer, without root (mount = false).
#include "swarmlet/image_cache.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using swarmlet::ImageCache;
using swarmlet::ImageCacheOptions;
using swarmlet::ImageChunk;
using swarmlet::ImageFetch;
using State = swarmlet::ImageProgress::State;
using std::chrono::milliseconds;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/image_cache_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Sha256Digest(const std::string& bytes) {
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return std::string("sha256:") + hex;
}

std::string Bytes(std::size_t n, unsigned seed) {
  std::string out(n, '\0');
  unsigned x = seed * 2654435761u + 1;
  for (char& c : out) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 16);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Hex(const std::string& digest) { return digest.substr(7); }

// A GPU peer that serves images from memory.
struct FakePeer {
  std::map<std::string, std::string> images;  // digest -> bytes

  ImageChunk Answer(const ImageFetch& f) const {
    ImageChunk c;
    c.request_id = f.request_id;
    c.digest = f.digest;
    c.offset = f.offset;
    auto it = images.find(f.digest);
    if (it == images.end()) {
      c.error = "unknown image " + f.digest;
      return c;
    }
    c.total_bytes = it->second.size();
    if (f.offset < it->second.size()) c.data = it->second.substr(f.offset, f.max_bytes);
    return c;
  }

  std::string Add(std::string bytes) {
    const std::string d = Sha256Digest(bytes);
    images[d] = std::move(bytes);
    return d;
  }
};

// Sends requests and delivers answers until nothing more is asked; returns the
// bytes requested.
std::uint64_t Pump(ImageCache& cache, const FakePeer& peer, int max_rounds = 10000) {
  std::uint64_t asked = 0;
  for (int i = 0; i < max_rounds; ++i) {
    auto reqs = cache.TakeRequests();
    if (reqs.empty()) return asked;
    for (const ImageFetch& f : reqs) {
      asked += f.max_bytes;
      cache.OnChunk(peer.Answer(f));
    }
  }
  FAIL("the fetch did not settle");
  return asked;
}

struct Fixture {
  TempDir tmp;
  mesh::FakeClock clock;
  FakePeer peer;

  ImageCacheOptions Options(std::uint64_t capacity = 0) {
    ImageCacheOptions o;
    o.dir = tmp.path() + "/image-cache";
    o.capacity_bytes = capacity;
    o.clock = &clock;
    o.chunk_bytes = 1024;
    o.window = 4;
    o.request_timeout = milliseconds(2000);
    o.partial_grace = milliseconds(60000);
    o.mount = false;
    return o;
  }
  std::unique_ptr<ImageCache> Open(std::uint64_t capacity = 0) {
    auto c = ImageCache::Open(Options(capacity));
    REQUIRE(c.ok());
    return std::move(*c);
  }
  std::string Dir() const { return tmp.path() + "/image-cache"; }
  std::set<std::string> Files() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(Dir())) out.insert(e.path().filename().string());
    return out;
  }
  // Fetches `digest` to kReady.
  void Fetch(ImageCache& cache, const std::string& digest) {
    REQUIRE(cache.Want(digest, peer.images.at(digest).size()).ok());
    Pump(cache, peer);
    REQUIRE(cache.Progress(digest).state == State::kReady);
  }
};

}  // namespace

TEST_CASE("image cache: a full fetch is verified and lands as <hex>.sqfs", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string image = Bytes(10'000, 1);  // not a multiple of the chunk size
  const std::string d = fx.peer.Add(image);
  CHECK(cache->Progress(d).state == State::kAbsent);
  REQUIRE(cache->Want(d, image.size()).ok());
  CHECK(cache->Progress(d).state == State::kFetching);
  CHECK(cache->Progress(d).total_bytes == image.size());

  // The first batch: `window` contiguous requests with distinct non-zero ids.
  auto first = cache->TakeRequests();
  REQUIRE(first.size() == 4);
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(first[i].digest == d);
    CHECK(first[i].offset == i * 1024);
    CHECK(first[i].max_bytes == 1024);
    CHECK(first[i].request_id != 0);
    ids.insert(first[i].request_id);
  }
  CHECK(ids.size() == 4);
  CHECK(cache->TakeRequests().empty());  // the window is full, nothing timed out
  for (const auto& f : first) cache->OnChunk(fx.peer.Answer(f));
  CHECK(cache->Progress(d).have_bytes == 4096);
  Pump(*cache, fx.peer);

  const auto p = cache->Progress(d);
  CHECK(p.state == State::kReady);
  CHECK(p.have_bytes == image.size());
  CHECK(p.error.empty());
  CHECK(fx.Files() == std::set<std::string>{Hex(d) + ".sqfs"});
  CHECK(ReadFile(fx.Dir() + "/" + Hex(d) + ".sqfs") == image);
  CHECK(cache->used_bytes() == image.size());
  CHECK(cache->TakeRequests().empty());

  // Wanting it again is a no-op; Acquire (without mounting) gives the file.
  REQUIRE(cache->Want(d, image.size()).ok());
  auto root = cache->Acquire(d);
  REQUIRE(root.ok());
  CHECK(*root == fx.Dir() + "/" + Hex(d) + ".sqfs");
  auto list = cache->List();
  REQUIRE(list.size() == 1);
  CHECK(list[0].digest == d);
  CHECK(list[0].size == image.size());
  CHECK(list[0].state == State::kReady);
  CHECK(list[0].refcount == 1);
  CHECK(list[0].last_used_wall_ns == fx.clock.WallNs());
  cache->Release(d);
  CHECK(cache->List()[0].refcount == 0);
  cache->Release(d);  // unheld: no effect
  CHECK(cache->List()[0].refcount == 0);
}

TEST_CASE("image cache: a restarted cache resumes from the .partial", "[swarmlet][image]") {
  Fixture fx;
  const std::string image = Bytes(20'000, 2);
  const std::string d = fx.peer.Add(image);
  {
    auto cache = fx.Open();
    REQUIRE(cache->Want(d, image.size()).ok());
    auto reqs = cache->TakeRequests();
    REQUIRE(reqs.size() == 4);
    for (int i = 0; i < 3; ++i) cache->OnChunk(fx.peer.Answer(reqs[i]));  // the 4th is lost
    CHECK(cache->Progress(d).have_bytes == 3072);
  }  // the swarmlet stops
  CHECK(fx.Files() == std::set<std::string>{Hex(d) + ".sqfs.partial"});

  auto cache = fx.Open();
  CHECK(cache->Progress(d).state == State::kAbsent);
  REQUIRE(cache->Want(d, image.size()).ok());
  CHECK(cache->Progress(d).have_bytes == 3072);
  auto reqs = cache->TakeRequests();
  REQUIRE_FALSE(reqs.empty());
  CHECK(reqs.front().offset == 3072);
  for (const auto& f : reqs) cache->OnChunk(fx.peer.Answer(f));
  std::uint64_t asked = 0;
  for (const auto& f : reqs) asked += f.max_bytes;
  asked += Pump(*cache, fx.peer);
  CHECK(asked == image.size() - 3072);  // only the remaining bytes
  CHECK(cache->Progress(d).state == State::kReady);
  CHECK(ReadFile(fx.Dir() + "/" + Hex(d) + ".sqfs") == image);
}

TEST_CASE("image cache: a .partial longer than the image starts over", "[swarmlet][image]") {
  Fixture fx;
  const std::string image = Bytes(3000, 3);
  const std::string d = fx.peer.Add(image);
  fs::create_directories(fx.Dir());
  std::ofstream(fx.Dir() + "/" + Hex(d) + ".sqfs.partial") << Bytes(5000, 9);
  auto cache = fx.Open();
  REQUIRE(cache->Want(d, image.size()).ok());
  CHECK(cache->Progress(d).have_bytes == 0);
  CHECK(Pump(*cache, fx.peer) == image.size());
  CHECK(cache->Progress(d).state == State::kReady);
}

TEST_CASE("image cache: dropped chunks are asked again after the timeout", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string image = Bytes(8192, 4);
  const std::string d = fx.peer.Add(image);
  REQUIRE(cache->Want(d, image.size()).ok());

  auto lost = cache->TakeRequests();  // all dropped on the way
  REQUIRE(lost.size() == 4);
  fx.clock.Advance(milliseconds(1999));
  CHECK(cache->TakeRequests().empty());
  fx.clock.Advance(milliseconds(1));
  auto again = cache->TakeRequests();
  REQUIRE(again.size() == 4);
  CHECK(again[0].offset == 0);
  for (std::size_t i = 0; i < 4; ++i) CHECK(again[i].request_id != lost[i].request_id);

  // A late answer to a forgotten request is ignored.
  cache->OnChunk(fx.peer.Answer(lost[0]));
  CHECK(cache->Progress(d).have_bytes == 0);

  // Chunk 1 of the new batch is dropped: 0 lands, 2 and 3 are out of order.
  cache->OnChunk(fx.peer.Answer(again[0]));
  cache->OnChunk(fx.peer.Answer(again[2]));
  cache->OnChunk(fx.peer.Answer(again[3]));
  CHECK(cache->Progress(d).have_bytes == 1024);
  // 2 and 3 are asked again at once (their answers were used up); 1 waits.
  auto refill = cache->TakeRequests();
  std::set<std::uint64_t> offsets;
  for (const auto& f : refill) offsets.insert(f.offset);
  CHECK(offsets == std::set<std::uint64_t>{2048, 3072, 4096});
  fx.clock.Advance(milliseconds(2000));
  auto retry = cache->TakeRequests();
  REQUIRE_FALSE(retry.empty());
  CHECK(retry[0].offset == 1024);
  for (const auto& f : retry) cache->OnChunk(fx.peer.Answer(f));
  Pump(*cache, fx.peer);
  CHECK(cache->Progress(d).state == State::kReady);
  CHECK(ReadFile(fx.Dir() + "/" + Hex(d) + ".sqfs") == image);
}

TEST_CASE("image cache: out-of-order and duplicate chunks are ignored", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string image = Bytes(6000, 5);
  const std::string d = fx.peer.Add(image);
  REQUIRE(cache->Want(d, image.size()).ok());
  auto reqs = cache->TakeRequests();
  REQUIRE(reqs.size() == 4);
  for (int i = 3; i >= 0; --i) cache->OnChunk(fx.peer.Answer(reqs[i]));
  CHECK(cache->Progress(d).have_bytes == 1024);
  cache->OnChunk(fx.peer.Answer(reqs[0]));  // duplicate
  CHECK(cache->Progress(d).have_bytes == 1024);
  // An unknown request at the write offset is not taken either.
  ImageFetch forged = reqs[1];
  forged.request_id = 999'999;
  cache->OnChunk(fx.peer.Answer(forged));
  CHECK(cache->Progress(d).have_bytes == 1024);
  Pump(*cache, fx.peer);
  CHECK(cache->Progress(d).state == State::kReady);
  CHECK(ReadFile(fx.Dir() + "/" + Hex(d) + ".sqfs") == image);
}

TEST_CASE("image cache: a tampered byte fails verification and leaves nothing", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string image = Bytes(5000, 6);
  const std::string d = fx.peer.Add(image);
  fx.peer.images[d][4321] ^= 0x01;
  REQUIRE(cache->Want(d, image.size()).ok());
  Pump(*cache, fx.peer);
  const auto p = cache->Progress(d);
  CHECK(p.state == State::kFailed);
  CHECK(p.error == "image " + d.substr(0, 19) + "… failed verification: got " +
                       Sha256Digest(fx.peer.images[d]).substr(0, 19) + "…; nothing mounted");
  CHECK(fx.Files().empty());
  CHECK(cache->used_bytes() == 0);
  auto acquired = cache->Acquire(d);
  CHECK_FALSE(acquired.ok());
  CHECK(acquired.status().message().find("failed verification") != std::string::npos);

  // Want() after a failure starts again from byte 0.
  fx.peer.images[d] = image;
  REQUIRE(cache->Want(d, image.size()).ok());
  CHECK(cache->Progress(d).state == State::kFetching);
  CHECK(cache->Progress(d).error.empty());
  CHECK(Pump(*cache, fx.peer) == image.size());
  CHECK(cache->Progress(d).state == State::kReady);
}

TEST_CASE("image cache: an error chunk or a wrong total fails the fetch", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string image = Bytes(5000, 7);
  const std::string d = fx.peer.Add(image);

  SECTION("error chunk") {
    REQUIRE(cache->Want(d, image.size()).ok());
    auto reqs = cache->TakeRequests();
    cache->OnChunk(fx.peer.Answer(reqs[0]));
    ImageChunk err = fx.peer.Answer(reqs[1]);
    err.data.clear();
    err.error = "unknown image\nsecond line";
    cache->OnChunk(err);
    const auto p = cache->Progress(d);
    CHECK(p.state == State::kFailed);
    CHECK(p.error.find("unknown image second line") != std::string::npos);
    CHECK(p.error.find('\n') == std::string::npos);
  }
  SECTION("wrong total_bytes") {
    REQUIRE(cache->Want(d, image.size() + 1).ok());
    Pump(*cache, fx.peer);
    const auto p = cache->Progress(d);
    CHECK(p.state == State::kFailed);
    CHECK(p.error.find("has 5000 bytes, but 5001 were wanted") != std::string::npos);
  }
  SECTION("more data than asked") {
    REQUIRE(cache->Want(d, image.size()).ok());
    auto reqs = cache->TakeRequests();
    ImageChunk big = fx.peer.Answer(reqs[0]);
    big.data += "x";
    cache->OnChunk(big);
    CHECK(cache->Progress(d).state == State::kFailed);
  }
  SECTION("an unknown image") {
    fx.peer.images.erase(d);
    REQUIRE(cache->Want(d, image.size()).ok());
    Pump(*cache, fx.peer);
    CHECK(cache->Progress(d).state == State::kFailed);
    CHECK(cache->Progress(d).error.find("unknown image") != std::string::npos);
  }
  CHECK(fx.Files().empty());
  CHECK(cache->TakeRequests().empty());
}

TEST_CASE("image cache: garbage chunks never crash it", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string image = Bytes(4096, 8);
  const std::string d = fx.peer.Add(image);
  REQUIRE(cache->Want(d, image.size()).ok());
  auto reqs = cache->TakeRequests();
  unsigned x = 1;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245u + 12345u;
    ImageChunk c;
    c.request_id = (x >> 3) % 4 == 0 ? reqs[x % reqs.size()].request_id : x;
    c.digest = (x >> 5) % 3 == 0 ? d : "garbage";
    c.offset = (x >> 7) % 2 == 0 ? reqs[x % reqs.size()].offset : x;
    c.total_bytes = (x >> 9) % 2 == 0 ? image.size() : x;
    c.data = Bytes((x >> 11) % 3000, x);
    cache->OnChunk(c);
  }
  const auto s = cache->Progress(d).state;
  CHECK((s == State::kFetching || s == State::kFailed));
}

TEST_CASE("image cache: an unclaimed .partial is removed after the grace", "[swarmlet][image]") {
  Fixture fx;
  const std::string a = fx.peer.Add(Bytes(3000, 10));
  const std::string b = fx.peer.Add(Bytes(3000, 11));
  fs::create_directories(fx.Dir());
  std::ofstream(fx.Dir() + "/" + Hex(a) + ".sqfs.partial") << fx.peer.images[a].substr(0, 1000);
  std::ofstream(fx.Dir() + "/" + Hex(b) + ".sqfs.partial") << fx.peer.images[b].substr(0, 1000);
  std::ofstream(fx.Dir() + "/.index.tmp.Ab12Cd") << "junk";
  std::ofstream(fx.Dir() + "/notes.txt") << "not ours";

  auto cache = fx.Open();
  CHECK(fx.Files() == std::set<std::string>{Hex(a) + ".sqfs.partial", Hex(b) + ".sqfs.partial", "notes.txt"});
  fx.clock.Advance(milliseconds(59'999));
  cache->Poll();
  CHECK(fx.Files().size() == 3);
  REQUIRE(cache->Want(b, 3000).ok());  // b is claimed within the grace
  CHECK(cache->Progress(b).have_bytes == 1000);
  fx.clock.Advance(milliseconds(1));
  cache->Poll();
  CHECK(fx.Files() == std::set<std::string>{Hex(b) + ".sqfs.partial", "notes.txt"});
  Pump(*cache, fx.peer);
  CHECK(cache->Progress(b).state == State::kReady);
}

TEST_CASE("image cache: LRU eviction makes room and never evicts a held image", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open(10'000);
  const std::string a = fx.peer.Add(Bytes(4000, 20));
  const std::string b = fx.peer.Add(Bytes(4000, 21));
  const std::string c = fx.peer.Add(Bytes(4000, 22));
  fx.Fetch(*cache, a);
  fx.clock.Advance(milliseconds(1000));
  fx.Fetch(*cache, b);
  CHECK(cache->used_bytes() == 8000);

  SECTION("the least recently used goes") {
    fx.clock.Advance(milliseconds(1000));
    REQUIRE(cache->Acquire(a).ok());  // a is now more recent than b
    cache->Release(a);
    fx.Fetch(*cache, c);
    CHECK(cache->Progress(a).state == State::kReady);
    CHECK(cache->Progress(b).state == State::kAbsent);
    CHECK_FALSE(fs::exists(fx.Dir() + "/" + Hex(b) + ".sqfs"));
  }
  SECTION("a held image stays even when it is the oldest") {
    REQUIRE(cache->Acquire(a).ok());
    fx.clock.Advance(milliseconds(1000));
    REQUIRE(cache->Acquire(b).ok());
    cache->Release(b);
    fx.Fetch(*cache, c);
    CHECK(cache->Progress(a).state == State::kReady);
    CHECK(cache->Progress(b).state == State::kAbsent);
    CHECK(cache->List()[0].refcount + cache->List()[1].refcount == 1);
  }
  CHECK(cache->used_bytes() == 8000);
  CHECK(cache->Progress(c).state == State::kReady);
}

TEST_CASE("image cache: LRU order survives a restart, Poll trims to a lowered capacity", "[swarmlet][image]") {
  Fixture fx;
  const std::string a = fx.peer.Add(Bytes(4000, 30));
  const std::string b = fx.peer.Add(Bytes(4000, 31));
  {
    auto cache = fx.Open();
    fx.Fetch(*cache, a);
    fx.clock.Advance(milliseconds(1000));
    fx.Fetch(*cache, b);
    fx.clock.Advance(milliseconds(1000));
    REQUIRE(cache->Acquire(a).ok());
    cache->Release(a);
  }
  auto cache = fx.Open(5000);
  auto list = cache->List();
  REQUIRE(list.size() == 2);
  CHECK(cache->used_bytes() == 8000);
  cache->Poll();
  CHECK(cache->Progress(a).state == State::kReady);
  CHECK(cache->Progress(b).state == State::kAbsent);
  CHECK(fx.Files() == std::set<std::string>{Hex(a) + ".sqfs"});
}

TEST_CASE("image cache: a cache full of held images refuses with a clear error", "[swarmlet][image]") {
  Fixture fx;
  ImageCacheOptions o = fx.Options(3u << 20);
  o.chunk_bytes = 256 * 1024;
  auto opened = ImageCache::Open(o);
  REQUIRE(opened.ok());
  auto& cache = **opened;
  const std::string a = fx.peer.Add(Bytes(3u << 19, 40));  // 1.5 MB
  const std::string b = fx.peer.Add(Bytes(3u << 19, 41));
  const std::string c = fx.peer.Add(Bytes(3u << 19, 42));
  fx.Fetch(cache, a);
  fx.Fetch(cache, b);
  REQUIRE(cache.Acquire(a).ok());
  REQUIRE(cache.Acquire(b).ok());
  const mesh::Status s = cache.Want(c, 3u << 19);
  REQUIRE_FALSE(s.ok());
  const std::string expected =
      "image cache full: 3.0 MB of 3.0 MB in use by running workloads, need 1.5 MB; raise --image-cache";
  CHECK(s.message().find(expected) != std::string::npos);
  CHECK(cache.Progress(c).state == State::kFailed);
  CHECK(cache.Progress(c).error.find(expected) != std::string::npos);
  CHECK(cache.Progress(a).state == State::kReady);
  CHECK(cache.Progress(b).state == State::kReady);
  CHECK(cache.TakeRequests().empty());

  // Once one is released, the same Want evicts it and fetches.
  cache.Release(b);
  REQUIRE(cache.Want(c, 3u << 19).ok());
  Pump(cache, fx.peer);
  CHECK(cache.Progress(c).state == State::kReady);
  CHECK(cache.Progress(b).state == State::kAbsent);
}

TEST_CASE("image cache: an image larger than the free disk is refused", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  const std::string d = "sha256:" + std::string(64, 'a');
  const mesh::Status s = cache->Want(d, 1ull << 60);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("no space left on " + fx.Dir() + ": need ") != std::string::npos);
  CHECK(s.message().find(" MB free") != std::string::npos);
  CHECK(cache->Progress(d).state == State::kFailed);
  CHECK(fx.Files().empty());
}

TEST_CASE("image cache: bad digests and sizes are refused", "[swarmlet][image]") {
  Fixture fx;
  auto cache = fx.Open();
  for (const std::string& bad : {std::string(""), std::string("sha256:abc"), "sha256:" + std::string(64, 'A'),
                                "sha512:" + std::string(64, 'a'), std::string(64, 'a'),
                                "sha256:" + std::string(63, 'a') + "/", "sha256:../" + std::string(61, 'a')}) {
    const mesh::Status s = cache->Want(bad, 100);
    CHECK(s.code() == mesh::StatusCode::kInvalidArgument);
  }
  const std::string good = "sha256:" + std::string(64, 'b');
  CHECK(cache->Want(good, 0).code() == mesh::StatusCode::kInvalidArgument);
  CHECK(cache->List().empty());
  CHECK(cache->Acquire(good).status().code() == mesh::StatusCode::kNotFound);

  const std::string image = Bytes(2000, 50);
  const std::string d = fx.peer.Add(image);
  REQUIRE(cache->Want(d, image.size()).ok());
  CHECK(cache->Want(d, image.size() + 1).code() == mesh::StatusCode::kInvalidArgument);  // fetching
  CHECK(cache->Acquire(d).status().code() == mesh::StatusCode::kUnavailable);
  Pump(*cache, fx.peer);
  CHECK(cache->Want(d, image.size() - 1).code() == mesh::StatusCode::kInvalidArgument);  // ready

  ImageCacheOptions o = fx.Options();
  o.chunk_bytes = 0;
  CHECK_FALSE(ImageCache::Open(o).ok());
  o = fx.Options();
  o.mount = true;  // without a mount_dir
  CHECK_FALSE(ImageCache::Open(o).ok());
}
