// Image references as users type them: NAME, NAME:TAG, NAME@sha256:<hex>,
// NAME:TAG@sha256:<hex>, with an optional registry host[:port] as the first
// path component ("localhost:5000/busybox:1.36").
//
// Names are kept literally: "busybox" is not expanded to
// "docker.io/library/busybox" (skopeo does that when pulling; the store keeps
// what the user or the archive called the image).
//
// Thread safety: pure functions over values.
#pragma once

#include <string>
#include <string_view>

#include "mesh/status.h"

namespace images {

struct Reference {
  std::string name;    // "busybox", "localhost:5000/team/app"
  std::string tag;     // "latest" when neither tag nor digest was given; may be
                       // empty when only a digest was given
  std::string digest;  // "sha256:<64 lowercase hex>" or empty

  bool operator==(const Reference&) const = default;
};

// InvalidArgument with a one-line reason for anything that is not a reference.
mesh::Result<Reference> ParseReference(std::string_view text);

// "name:tag", "name@digest" or "name:tag@digest".
std::string ToString(const Reference& ref);

// True for "sha256:" followed by exactly 64 lowercase hex digits.
bool IsSha256Digest(std::string_view digest);

}  // namespace images
