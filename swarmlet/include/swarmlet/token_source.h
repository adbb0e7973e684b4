// Where `swarmlet join` takes its join token from, most private first:
//   --token-file F             a file (0600, as install.sh writes it); with
//                              --remove-token-file the swarmlet deletes it
//                              once the join succeeded (the token is not
//                              needed again: the node rejoins with its
//                              identity)
//   STRATOSWARM_JOIN_TOKEN     the environment (docker run -e, systemd)
//   --token T                  still works, with a one-line warning: every
//                              local user sees a command line (ps, /proc)
// The token's secret is never printed: errors name the source, not the value.
//
// Thread safety: free functions.
#pragma once

#include <string>

#include "mesh/status.h"

namespace swarmlet {

inline constexpr char kJoinTokenEnv[] = "STRATOSWARM_JOIN_TOKEN";
inline constexpr char kTokenOnCommandLineWarning[] =
    "WARNING: --token is visible to every local user (ps, /proc/PID/cmdline); use --token-file "
    "or STRATOSWARM_JOIN_TOKEN";

struct TokenChoice {
  std::string token;     // empty: none given (fine when the node rejoins with its identity)
  std::string source;    // "--token", "--token-file F", "STRATOSWARM_JOIN_TOKEN" or ""
  bool warn = false;     // given on the command line
  bool file_missing = false;  // --token-file names no file (fine when rejoining)
};

// InvalidArgument when --token and --token-file are both given, or the file
// is unreadable (other than missing), empty or longer than a token could be.
// `env` is the variable's value or null.
mesh::Result<TokenChoice> ChooseJoinToken(const std::string& flag, const std::string& file, const char* env);

}  // namespace swarmlet
