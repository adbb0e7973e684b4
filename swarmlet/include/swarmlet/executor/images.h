// Local images: a workload may run inside a root filesystem directory.
//
// An image is <images_dir>/<name>/ holding either the root filesystem
// itself (bin/, ...) or a rootfs/ subdirectory (the layout of an unpacked
// OCI bundle). A path with a '/' names a rootfs directory directly. There is
// no registry: scripts/make_busybox_image.sh builds the test image from
// Debian's busybox-static. OCI image layouts (index.json + blobs) are not
// unpacked yet.
//
// Thread safety: reentrant functions.
#pragma once

#include <string>
#include <vector>

#include "mesh/status.h"

namespace swarmlet::executor {

// The absolute rootfs directory of `name_or_path`. NotFound names the image
// and lists the local ones.
mesh::Result<std::string> ResolveImage(const std::string& images_dir,
                                       const std::string& name_or_path);
// Names of the images under `images_dir`, sorted.
std::vector<std::string> ListImages(const std::string& images_dir);

}  // namespace swarmlet::executor
