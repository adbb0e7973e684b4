#include "swarmlet/image_protocol.h"

#include <catch2/catch.hpp>
#include <random>

using namespace swarmlet;

namespace {

const std::string kDigest = "sha256:" + std::string(64, 'c');

ImageFetch AFetch() { return ImageFetch{42, kDigest, 1 << 20, 256 * 1024}; }

ImageChunk AChunk() {
  ImageChunk c;
  c.request_id = 42;
  c.digest = kDigest;
  c.offset = 1 << 20;
  c.total_bytes = 3 << 20;
  c.data = std::string("\0\x01\xff squashfs bytes", 18);
  return c;
}

}  // namespace

TEST_CASE("image digests are sha256 with 64 lowercase hex digits", "[image_protocol]") {
  CHECK(IsImageDigest(kDigest));
  CHECK_FALSE(IsImageDigest("sha256:" + std::string(63, 'c')));
  CHECK_FALSE(IsImageDigest("sha256:" + std::string(64, 'C')));
  CHECK_FALSE(IsImageDigest("sha512:" + std::string(64, 'c')));
  CHECK_FALSE(IsImageDigest(""));
}

TEST_CASE("image fetch and chunk round-trip", "[image_protocol]") {
  auto fetch = EncodeImageFetch(AFetch());
  REQUIRE(fetch.ok());
  auto f = DecodeImageFetch(*fetch);
  REQUIRE(f.ok());
  CHECK(*f == AFetch());

  auto chunk = EncodeImageChunk(AChunk());
  REQUIRE(chunk.ok());
  auto c = DecodeImageChunk(*chunk);
  REQUIRE(c.ok());
  CHECK(*c == AChunk());

  ImageChunk error = AChunk();
  error.data.clear();
  error.error = "image sha256:cc.. is not on the GPU peer";
  auto e = DecodeImageChunk(*EncodeImageChunk(error));
  REQUIRE(e.ok());
  CHECK(e->error == error.error);

  ImageChunk full = AChunk();
  full.data.assign(kMaxImageChunkBytes, 'x');
  full.total_bytes = full.offset + full.data.size();
  auto big = EncodeImageChunk(full);
  REQUIRE(big.ok());
  CHECK(DecodeImageChunk(*big).ok());
}

TEST_CASE("image fetch and chunk encoders refuse what decoders would", "[image_protocol]") {
  ImageFetch f = AFetch();
  f.request_id = 0;
  CHECK_FALSE(EncodeImageFetch(f).ok());
  f = AFetch();
  f.digest = "alpine";
  CHECK_FALSE(EncodeImageFetch(f).ok());
  f = AFetch();
  f.max_bytes = 0;
  CHECK_FALSE(EncodeImageFetch(f).ok());
  f.max_bytes = kMaxImageChunkBytes + 1;
  CHECK_FALSE(EncodeImageFetch(f).ok());

  ImageChunk c = AChunk();
  c.data.assign(kMaxImageChunkBytes + 1, 'x');
  CHECK_FALSE(EncodeImageChunk(c).ok());
}

TEST_CASE("a chunk whose data runs past total_bytes is refused", "[image_protocol]") {
  ImageChunk c = AChunk();
  c.total_bytes = c.offset + c.data.size() - 1;
  auto bytes = EncodeImageChunk(c);
  REQUIRE(bytes.ok());
  auto decoded = DecodeImageChunk(*bytes);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.status().message().find("total_bytes") != std::string::npos);
}

TEST_CASE("image protocol decoders survive mutated and random input", "[image_protocol]") {
  const std::string seeds[] = {*EncodeImageFetch(AFetch()), *EncodeImageChunk(AChunk())};
  std::mt19937_64 rng(15);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b = seeds[i % 2];
    if (i % 5 == 4) {
      b.resize(rng() % 64);
      for (auto& ch : b) ch = static_cast<char>(rng());
    } else {
      for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
        if (b.empty()) break;
        const std::size_t at = rng() % b.size();
        switch (rng() % 3) {
          case 0: b[at] = static_cast<char>(rng()); break;
          case 1: b.erase(at, 1); break;
          default: b.resize(at); break;
        }
      }
    }
    auto f = DecodeImageFetch(b);
    auto c = DecodeImageChunk(b);
    if (f.ok()) {
      ++accepted;
      CHECK(IsImageDigest(f->digest));
      CHECK(f->max_bytes <= kMaxImageChunkBytes);
    }
    if (c.ok()) {
      ++accepted;
      CHECK(c->offset + c->data.size() <= c->total_bytes);
    }
  }
  CHECK(accepted < 20000);  // most mutations are refused (and none crashed)
}
