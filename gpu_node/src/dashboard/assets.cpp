#include "dashboard/assets.h"

namespace gpu_node::dashboard {
namespace {

#include "dashboard_assets.inc"

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::span<const DashboardAsset> Assets() { return kAssets; }

const DashboardAsset* FindAsset(std::string_view url_path) {
  if (url_path == "/") url_path = "/index.html";
  for (const DashboardAsset& a : kAssets) {
    if (a.path == url_path) return &a;
  }
  return nullptr;
}

std::string_view ContentTypeFor(std::string_view path) {
  if (path == "/" || EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (EndsWith(path, ".json")) return "application/json";
  if (EndsWith(path, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace gpu_node::dashboard
