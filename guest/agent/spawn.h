// Starting a command for an EXEC channel: fork, then in the child its own
// process group (or session, with a tty), the stdio plumbing, cwd and env,
// and a PATH search of the request's own PATH. An exec failure is the
// child's to report, like a shell: "banger-agent: <cmd>: <strerror>" on its
// stderr and exit 127 (not found) or 126 (not executable).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "user.h"

namespace banger::agent {

struct SpawnRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // final "KEY=VALUE" list
  std::string cwd;               // "" = the home (/root), or / when it cannot be entered
  bool tty = false;
  uint16_t rows = 24, cols = 80;
  // Run as this user (setgroups, setgid, setuid in the child); nullopt: as
  // the agent (root). With a user, "" cwd is the user's home.
  std::optional<ResolvedUser> user;
};

// The parent's ends, all non-blocking and close-on-exec. With a tty,
// stdout_fd is the pty master, stdin_fd a duplicate of it and stderr_fd unset.
struct Spawned {
  pid_t pid = -1;
  UniqueFd stdin_fd, stdout_fd, stderr_fd;
};

struct SpawnFailure {
  int err = 0;
  std::string stage;  // "cwd", "pipe", "pty", "fork"
};

// Returns false and fills *failure when the command could not be started at
// all (nothing was forked, or fork itself failed).
bool Spawn(const SpawnRequest& req, Spawned* out, SpawnFailure* failure);

// The command's environment: PATH, HOME=`home` (and TERM with a tty), then
// the request's "KEY=VALUE" entries, which win over those defaults.
std::vector<std::string> MergeEnv(bool tty, const std::vector<std::string>& request_env,
                                  const std::string& home = "/root");

// The building blocks of the child side, shared with session-start
// (session.cc), which runs commands outside of an EXEC channel.
//
// The paths execve should try for argv0: argv0 itself when it has a '/',
// else each directory of the command's own PATH in `env` (execvpe would use
// the agent's PATH instead).
std::vector<std::string> ExecCandidates(const std::string& argv0, const std::vector<std::string>& env);
// chdir to the command's directory: `cwd`, or `home` (/ when that cannot be
// entered) when it is empty. False with errno set on failure.
bool EnterCommandCwd(const std::string& cwd, const std::string& home = "/root");
// In the child, before EnterCommandCwd: gives a tty (`tty_fd` >= 0) to the
// user and becomes the user. False with errno set, *what naming the call.
bool BecomeUser(const ResolvedUser& user, int tty_fd, const char** what);
// execve()s each candidate like execvp; returns only on failure, with the
// errno to report.
int ExecSearch(const std::vector<std::string>& candidates, char* const* argv, char* const* envp);
// The shell's exit code for an exec failure: 127 not found, 126 otherwise.
int ExecFailureCode(int err);

}  // namespace banger::agent
