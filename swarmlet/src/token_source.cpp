#include "swarmlet/token_source.h"

#include "mesh/atomic_file.h"

namespace swarmlet {
namespace {

constexpr std::size_t kMaxTokenFileBytes = 4096;

std::string Trimmed(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

mesh::Result<TokenChoice> ChooseJoinToken(const std::string& flag, const std::string& file, const char* env) {
  TokenChoice choice;
  if (!flag.empty() && !file.empty()) {
    return mesh::Status::InvalidArgument("join token", "give --token or --token-file, not both");
  }
  if (!flag.empty()) {
    choice.token = flag;
    choice.source = "--token";
    choice.warn = true;
    return choice;
  }
  if (!file.empty()) {
    choice.source = "--token-file " + file;
    auto bytes = mesh::ReadFileLimited(file, kMaxTokenFileBytes);
    if (!bytes.ok()) {
      if (bytes.status().code() == mesh::StatusCode::kNotFound) {
        choice.file_missing = true;
        return choice;
      }
      return mesh::Status::InvalidArgument("--token-file " + file, bytes.status().message());
    }
    choice.token = Trimmed(std::move(*bytes));
    if (choice.token.empty()) return mesh::Status::InvalidArgument("--token-file " + file, "the file is empty");
    return choice;
  }
  if (env != nullptr && *env != '\0') {
    choice.token = Trimmed(env);
    choice.source = kJoinTokenEnv;
  }
  return choice;
}

}  // namespace swarmlet
