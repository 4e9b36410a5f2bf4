#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "pty.h"

namespace banger::agent {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool SetNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

std::string EnvValue(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env) {
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
      return e.substr(key.size() + 1);
    }
  }
  return {};
}

// Writes "banger-agent: <what>: <strerror>\n" to the child's stderr.
void ChildReport(const char* what, int err) {
  char msg[512];
  int n = snprintf(msg, sizeof(msg), "banger-agent: %s: %s\n", what, strerror(err));
  if (n > 0) {
    ssize_t ignored = write(STDERR_FILENO, msg, std::min<size_t>(n, sizeof(msg) - 1));
    (void)ignored;
  }
}

// In the forked child: never returns.
[[noreturn]] void RunChild(const SpawnRequest& req, const std::vector<std::string>& candidates,
                           char* const* argv, char* const* envp, int in_fd, int out_fd, int err_fd) {
  if (req.tty) {
    // A new session whose controlling terminal is the pty, so job control
    // and ^C behave as in a login shell.
    setsid();
    ioctl(in_fd, TIOCSCTTY, 0);
  } else {
    setpgid(0, 0);
  }
  dup2(in_fd, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);

  // The agent blocks SIGCHLD and ignores SIGPIPE; both are inherited across
  // exec and would break ordinary pipelines.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);

  if (req.user) {
    const char* what = "";
    if (!BecomeUser(*req.user, req.tty ? in_fd : -1, &what)) {
      ChildReport(what, errno);
      _exit(126);
    }
  }
  if (!EnterCommandCwd(req.cwd, req.user ? req.user->home : "/root")) {
    ChildReport(req.cwd.empty() ? "cd /" : ("cd " + req.cwd).c_str(), errno);
    _exit(126);
  }
  int err = ExecSearch(candidates, argv, envp);
  ChildReport(req.argv[0].c_str(), err);
  _exit(ExecFailureCode(err));
}

}  // namespace

// The paths execve should try for argv0, resolved against the command's own
// PATH (execvpe would use the agent's PATH instead).
std::vector<std::string> ExecCandidates(const std::string& argv0, const std::vector<std::string>& env) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::string path = EnvValue(env, "PATH");
  if (path.empty()) path = kDefaultPath;
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    out.push_back((dir.empty() ? "." : dir) + "/" + argv0);
    start = end + 1;
  }
  return out;
}

bool EnterCommandCwd(const std::string& cwd, const std::string& home) {
  if (!cwd.empty()) return chdir(cwd.c_str()) == 0;
  return chdir(home.c_str()) == 0 || chdir("/") == 0;
}

bool BecomeUser(const ResolvedUser& user, int tty_fd, const char** what) {
  // The pty's slave was made by root: the user's own programs (ttyname,
  // mesg, ssh) expect to own their terminal, as after a login.
  if (tty_fd >= 0 && fchown(tty_fd, user.uid, static_cast<gid_t>(-1)) != 0) {
    *what = "fchown tty";
    return false;
  }
  return ApplyUser(user, what);
}

int ExecSearch(const std::vector<std::string>& candidates, char* const* argv, char* const* envp) {
  // Like execvp: keep searching past "not found", remember "permission
  // denied" so it wins over a later "not found".
  int err = ENOENT;
  bool denied = false;
  for (const auto& path : candidates) {
    execve(path.c_str(), argv, envp);
    err = errno;
    if (err == EACCES) {
      denied = true;
    } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ELOOP && err != ENAMETOOLONG) {
      break;
    }
  }
  if (denied && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  return err;
}

int ExecFailureCode(int err) { return err == ENOENT || err == ENOTDIR ? 127 : 126; }

std::vector<std::string> MergeEnv(bool tty, const std::vector<std::string>& request_env,
                                  const std::string& home) {
  std::vector<std::string> env = {std::string("PATH=") + kDefaultPath, "HOME=" + home};
  if (tty) env.push_back("TERM=xterm-256color");
  for (const auto& e : request_env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string_view key(e.data(), eq + 1);  // "KEY="
    bool replaced = false;
    for (auto& cur : env) {
      if (cur.compare(0, key.size(), key) == 0) {
        cur = e;
        replaced = true;
        break;
      }
    }
    if (!replaced) env.push_back(e);
  }
  return env;
}

bool Spawn(const SpawnRequest& req, Spawned* out, SpawnFailure* failure) {
  auto fail = [&](int err, const char* stage) {
    failure->err = err;
    failure->stage = stage;
    return false;
  };
  if (!req.cwd.empty()) {
    // Checked here so a mistyped directory fails the OPEN with a clear error
    // instead of looking like the command's own failure.
    struct stat st;
    if (stat(req.cwd.c_str(), &st) != 0) return fail(errno, "cwd");
    if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, "cwd");
  }

  // Child ends (in, out, err) and parent ends.
  UniqueFd child_in, child_out, child_err;
  UniqueFd parent_in, parent_out, parent_err;
  if (req.tty) {
    struct winsize ws = {};
    ws.ws_row = req.rows;
    ws.ws_col = req.cols;
    if (!OpenPty("/dev/pts", ws, &parent_out, &child_in)) return fail(errno, "pty");
    if (!SetNonBlocking(parent_out.get())) return fail(errno, "pty");
    parent_in.Reset(fcntl(parent_out.get(), F_DUPFD_CLOEXEC, 3));
    if (!parent_in.valid()) return fail(errno, "pty");
  } else {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return fail(errno, "pipe");
    child_in.Reset(p[0]);
    parent_in.Reset(p[1]);
    if (pipe2(p, O_CLOEXEC) != 0) return fail(errno, "pipe");
    parent_out.Reset(p[0]);
    child_out.Reset(p[1]);
    if (pipe2(p, O_CLOEXEC) != 0) return fail(errno, "pipe");
    parent_err.Reset(p[0]);
    child_err.Reset(p[1]);
    if (!SetNonBlocking(parent_in.get()) || !SetNonBlocking(parent_out.get()) ||
        !SetNonBlocking(parent_err.get())) {
      return fail(errno, "pipe");
    }
  }

  // Everything the child needs is built before fork.
  std::vector<std::string> candidates = ExecCandidates(req.argv[0], req.env);
  std::vector<char*> argv, envp;
  for (const auto& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : req.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return fail(errno, "fork");
  if (pid == 0) {
    int in = child_in.get();
    int o = req.tty ? in : child_out.get();
    int e = req.tty ? in : child_err.get();
    RunChild(req, candidates, argv.data(), envp.data(), in, o, e);
  }
  // Also from the parent, so a SIGNAL sent right away already finds the
  // group (whichever of the two runs first wins; the other is a no-op).
  if (!req.tty) setpgid(pid, pid);
  out->pid = pid;
  out->stdin_fd = std::move(parent_in);
  out->stdout_fd = std::move(parent_out);
  out->stderr_fd = std::move(parent_err);
  return true;
}

}  // namespace banger::agent
