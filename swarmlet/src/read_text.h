// Whole small files from /proc, /sys and cgroupfs as text (private to the
// swarmlet library). A missing or unreadable file reads as "".
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace swarmlet::internal {

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace swarmlet::internal
