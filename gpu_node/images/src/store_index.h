// index.json of the image store: ImageRecords to JSON and back (strict: any
// malformed field is Corrupt, never an exception).
//
// Thread safety: pure functions over values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "images/store.h"
#include "mesh/status.h"

namespace images::internal {

std::string EncodeIndex(const std::vector<ImageRecord>& records);
mesh::Result<std::vector<ImageRecord>> DecodeIndex(std::string_view text);

}  // namespace images::internal
