// The image transfer protocol between a node and the GPU peer
// (docs/wire_format.md, types kImageFetch / kImageChunk).
//
// A node that must run a workload whose image it lacks asks the GPU peer
// for the image's squashfs by digest, one chunk at a time, from any offset:
// a transfer cut by a drop or a restart of either side resumes where the
// node's `.partial` file ends. The GPU peer answers every ImageFetch with
// one ImageChunk (data, or an error such as "unknown image").
//
// Encodings are strict msgpack; decoders never throw and refuse oversize or
// badly shaped input with a Corrupt status.
//
// Thread safety: values and free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace swarmlet {

// The largest chunk a fetch may ask for (the mesh's payload limit is 1 MiB).
inline constexpr std::uint32_t kMaxImageChunkBytes = 512 * 1024;

// "sha256:" + 64 lowercase hex digits.
bool IsImageDigest(std::string_view digest);

struct ImageFetch {
  std::uint64_t request_id = 0;  // echoed in the chunk; never 0
  std::string digest;            // of the squashfs file
  std::uint64_t offset = 0;
  std::uint32_t max_bytes = 0;   // 1..kMaxImageChunkBytes

  bool operator==(const ImageFetch&) const = default;
};

struct ImageChunk {
  std::uint64_t request_id = 0;
  std::string digest;
  std::uint64_t offset = 0;       // where `data` starts
  std::uint64_t total_bytes = 0;  // size of the whole file
  std::string data;               // empty at or past the end, or on error
  std::string error;              // one line; the fetch failed for good

  bool operator==(const ImageChunk&) const = default;
};

mesh::Result<std::string> EncodeImageFetch(const ImageFetch& fetch);
mesh::Result<ImageFetch> DecodeImageFetch(std::string_view bytes);
mesh::Result<std::string> EncodeImageChunk(const ImageChunk& chunk);
mesh::Result<ImageChunk> DecodeImageChunk(std::string_view bytes);

}  // namespace swarmlet
