// What a path given to `image load` is, told by its content, and the image
// name it carries:
//   directory with an oci-layout file      -> OCI layout   (skopeo oci:DIR)
//   tar with manifest.json at the top      -> docker-archive (`docker save`;
//                                             Docker 25+ saves also hold an
//                                             OCI layout, manifest.json wins)
//   tar with oci-layout at the top         -> oci-archive
// Names: docker-archive RepoTags[0]; OCI io.containerd.image.name, else
// org.opencontainers.image.ref.name when it is a full NAME:TAG or has a '/'
// (a bare "1.36" is only a tag and names nothing).
//
// Thread safety: free functions.
#pragma once

#include <string>

#include "mesh/status.h"

namespace images::internal {

enum class SourceKind { kDockerArchive, kOciArchive, kOciLayout };

struct Source {
  SourceKind kind = SourceKind::kOciLayout;
  std::string transport;  // skopeo source, e.g. "docker-archive:/abs/path.tar"
  std::string name;       // from the archive; empty when it has none
};

// InvalidArgument when the path is neither; NotFound when missing.
mesh::Result<Source> InspectSource(const std::string& path);

const char* SourceKindName(SourceKind kind);

}  // namespace images::internal
