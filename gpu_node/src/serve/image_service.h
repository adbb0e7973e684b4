// ImageService: the GPU peer's images as the cluster uses them — the API's
// `image load / pull / ls / rm / inspect`, the chunks nodes fetch over the
// mesh (image_protocol.h), what a start command of an image workload carries
// for the node's platform (argv, env, user, ...), and which nodes hold
// which image (from their full reports).
//
// Threads: API handlers run on the API thread (load and pull block it for
// as long as they take), ServeFetch / ForNode on the mesh thread; the store
// and the node map have their own locks.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/api.h"
#include "images/store.h"
#include "mesh/status.h"
#include "swarmlet/image_protocol.h"
#include "swarmlet/workload_protocol.h"

namespace gpu_node {

class ImageService {
 public:
  explicit ImageService(images::ImageStore& store) : store_(store) {}

  std::map<std::string, api::Handler> ApiHandlers();

  // One chunk of a squashfs, or an error chunk ("not on the GPU peer").
  swarmlet::ImageChunk ServeFetch(const swarmlet::ImageFetch& fetch) const;

  // The canonical reference ("alpine:latest") of `ref` and the OCI
  // architectures it has; NotFound with one line when the store lacks it.
  struct Resolved {
    std::string ref;
    std::vector<std::string> archs;
  };
  mesh::Result<Resolved> Resolve(const std::string& ref) const;

  // Fills the image part of a start spec for a node of `node_arch`
  // (uname -m): squashfs digest and size, argv = Entrypoint + (argv or
  // Cmd), env = the image's with the workload's winning, cwd, user, stop
  // signal. NotFound / FailedPrecondition with one line otherwise.
  mesh::Status FillStart(const std::string& ref, const std::string& node_arch,
                         swarmlet::WorkloadStartSpec& spec) const;

  // From a node's full report: the image digests it holds now.
  void SetNodeImages(const std::string& node_name, const std::vector<std::string>& digests);

 private:
  images::ImageStore& store_;
  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>> node_images_;  // node name -> squashfs digests
};

}  // namespace gpu_node
