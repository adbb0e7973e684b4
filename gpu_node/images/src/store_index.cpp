#include "store_index.h"

#include <nlohmann/json.hpp>

namespace images::internal {
namespace {

using nlohmann::json;

constexpr int kIndexVersion = 1;

json EncodeConfig(const ImageConfig& c) {
  return json{{"architecture", c.architecture}, {"os", c.os},     {"variant", c.variant},
              {"entrypoint", c.entrypoint},     {"cmd", c.cmd},   {"env", c.env},
              {"working_dir", c.working_dir},   {"user", c.user}, {"stop_signal", c.stop_signal},
              {"diff_ids", c.diff_ids}};
}

ImageConfig DecodeConfig(const json& j) {
  ImageConfig c;
  j.at("architecture").get_to(c.architecture);
  j.at("os").get_to(c.os);
  j.at("variant").get_to(c.variant);
  j.at("entrypoint").get_to(c.entrypoint);
  j.at("cmd").get_to(c.cmd);
  j.at("env").get_to(c.env);
  j.at("working_dir").get_to(c.working_dir);
  j.at("user").get_to(c.user);
  j.at("stop_signal").get_to(c.stop_signal);
  j.at("diff_ids").get_to(c.diff_ids);
  return c;
}

}  // namespace

std::string EncodeIndex(const std::vector<ImageRecord>& records) {
  json images = json::array();
  for (const auto& r : records) {
    json platforms = json::array();
    for (const auto& p : r.platforms) {
      platforms.push_back(json{{"os", p.os},
                               {"architecture", p.architecture},
                               {"variant", p.variant},
                               {"manifest", p.manifest_digest},
                               {"config_digest", p.config_digest},
                               {"config", EncodeConfig(p.config)},
                               {"uid", p.user.uid},
                               {"gid", p.user.gid},
                               {"groups", p.user.groups},
                               {"user_error", p.user_error},
                               {"squashfs", p.squashfs_digest},
                               {"squashfs_size", p.squashfs_size},
                               {"compressed_size", p.compressed_size},
                               {"layers", p.layers}});
    }
    images.push_back(json{{"name", r.name},
                          {"tag", r.tag},
                          {"digest", r.digest},
                          {"source_digest", r.source_digest},
                          {"created", r.created},
                          {"platforms", std::move(platforms)},
                          {"blobs", r.blobs}});
  }
  return json{{"version", kIndexVersion}, {"images", std::move(images)}}.dump(1) + "\n";
}

mesh::Result<std::vector<ImageRecord>> DecodeIndex(std::string_view text) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return mesh::Status::Corrupt("image index", "not valid JSON");
  try {
    if (doc.at("version").get<int>() != kIndexVersion)
      return mesh::Status::Unsupported("image index", "version " + doc.at("version").dump());
    std::vector<ImageRecord> records;
    for (const auto& i : doc.at("images")) {
      ImageRecord r;
      i.at("name").get_to(r.name);
      i.at("tag").get_to(r.tag);
      i.at("digest").get_to(r.digest);
      i.at("source_digest").get_to(r.source_digest);
      i.at("created").get_to(r.created);
      i.at("blobs").get_to(r.blobs);
      for (const auto& p : i.at("platforms")) {
        PlatformImage pi;
        p.at("os").get_to(pi.os);
        p.at("architecture").get_to(pi.architecture);
        p.at("variant").get_to(pi.variant);
        p.at("manifest").get_to(pi.manifest_digest);
        p.at("config_digest").get_to(pi.config_digest);
        pi.config = DecodeConfig(p.at("config"));
        p.at("uid").get_to(pi.user.uid);
        p.at("gid").get_to(pi.user.gid);
        p.at("groups").get_to(pi.user.groups);
        p.at("user_error").get_to(pi.user_error);
        p.at("squashfs").get_to(pi.squashfs_digest);
        p.at("squashfs_size").get_to(pi.squashfs_size);
        p.at("compressed_size").get_to(pi.compressed_size);
        p.at("layers").get_to(pi.layers);
        r.platforms.push_back(std::move(pi));
      }
      records.push_back(std::move(r));
    }
    return records;
  } catch (const json::exception& e) {
    return mesh::Status::Corrupt("image index", e.what());
  }
}

}  // namespace images::internal
