#include "subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace images::internal {
namespace {

constexpr off_t kKeptOutput = 64 * 1024;

std::string ReadTail(int fd) {
  const off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) return {};
  const off_t start = size > kKeptOutput ? size - kKeptOutput : 0;
  std::string out(static_cast<std::size_t>(size - start), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n =
        pread(fd, out.data() + got, out.size() - got, start + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace

std::string ChildExit::LastLine() const {
  std::size_t end = output.size();
  while (end > 0) {
    const auto nl = output.rfind('\n', end - 1);
    const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
    std::string line = output.substr(begin, end - begin);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    if (!line.empty()) return line;
    if (nl == std::string::npos) break;
    end = nl;
  }
  if (term_signal != 0) return "killed by signal " + std::to_string(term_signal);
  return "exit status " + std::to_string(exit_code);
}

mesh::Result<Child> Spawn(const std::vector<std::string>& argv, int stdin_fd) {
  if (argv.empty()) return mesh::Status::Internal("spawn", "empty argv");
  const int out = memfd_create("child-output", MFD_CLOEXEC);
  if (out < 0) return mesh::Status::FromErrno("memfd_create", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, out, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The child starts with default signal dispositions and an empty mask,
  // whatever the server has set up for itself.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    close(out);
    if (err == ENOENT)
      return mesh::Status::NotFound("run " + argv[0], "not installed (not in PATH)");
    return mesh::Status::FromErrno("run " + argv[0], err);
  }
  return Child{pid, out};
}

mesh::Result<ChildExit> Wait(Child& child) {
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(child.pid, &status, 0);
    if (r == child.pid) break;
    if (r < 0 && errno == EINTR) continue;
    const int err = errno;
    close(child.output_fd);
    child.output_fd = -1;
    return mesh::Status::FromErrno("waitpid", err);
  }
  child.pid = -1;
  ChildExit exit;
  if (WIFEXITED(status)) {
    exit.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit.term_signal = WTERMSIG(status);
  }
  exit.output = ReadTail(child.output_fd);
  close(child.output_fd);
  child.output_fd = -1;
  return exit;
}

void Kill(Child& child) {
  if (child.pid > 0) {
    kill(child.pid, SIGKILL);
    (void)Wait(child);
  }
}

mesh::Result<ChildExit> Run(const std::vector<std::string>& argv) {
  auto child = Spawn(argv);
  if (!child.ok()) return child.status();
  return Wait(*child);
}

}  // namespace images::internal
