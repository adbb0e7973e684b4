// Plain-text tables for the CLI, column widths fitted to the content, as
// `docker node ls` prints them; the seeds grep these lines.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gpu_node {

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace gpu_node
