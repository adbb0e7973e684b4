// The dashboard's page, script, styles and vendored uPlot
// (gpu_node/src/dashboard/assets/), compiled into the binary at build time
// (embed_assets.cmake): the page loads nothing from the network.
//
// Thread safety: immutable data; any thread.
#pragma once

#include <span>
#include <string_view>

namespace gpu_node::dashboard {

struct DashboardAsset {
  std::string_view path;  // URL path, e.g. "/dashboard.js"
  std::string_view body;
};

// Every embedded asset.
std::span<const DashboardAsset> Assets();

// The asset served at `url_path` ("/" is "/index.html"); nullptr if none.
// Query strings are not part of the path.
const DashboardAsset* FindAsset(std::string_view url_path);

// Content-Type for a path by its extension; application/octet-stream when
// unknown.
std::string_view ContentTypeFor(std::string_view path);

}  // namespace gpu_node::dashboard
