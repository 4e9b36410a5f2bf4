// `banger-agent session-start DIR [--stdin] [--cwd D] [--env K=V]... [--user U] -- CMD...`
// and the supervisor it double-forks (session.h): the supervisor runs the
// command in its own process group, records it in DIR/status.json, reaps it
// and records its end. The starter answers {"pid": N} once the command runs,
// or {"stage": ..., "message": ...} when it could not start.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "session_internal.h"
#include "spawn.h"

namespace banger::agent {
namespace {

using namespace session;

struct StartOptions {
  std::string dir, cwd, user;
  bool stdin_fifo = false;
  std::vector<std::string> env, argv;
  std::optional<ResolvedUser> resolved;  // set when user is not ""
};

// The failure answer: JSON on stdout for the daemon, one line on stderr.
int StartFail(const std::string& stage, const std::string& message, int code = 1) {
  printf("{\"stage\": %s, \"message\": %s}\n", JsonQuote(stage).c_str(), JsonQuote(message).c_str());
  fflush(stdout);
  return Fail("session-start", message, code);
}

// What the command's child sends up its close-on-exec pipe when it could not
// exec; nothing (EOF) means it did.
struct ExecReport {
  int32_t stage;  // 0 = cwd, 1 = exec, 2 = user
  int32_t err;
};

// Everything the command's child needs, built before any fork.
struct CommandImage {
  std::vector<std::string> env, candidates;
  std::vector<char*> argv, envp;
};

void WaitChild(pid_t pid, int* status = nullptr) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

// The supervisor: runs in its own session and never returns. Tells the
// starter through report_fd "ok <pid>" or "err <stage>\n<message>".
class Supervisor {
 public:
  Supervisor(const StartOptions& o, int report_fd)
      : o_(o), report_fd_(report_fd), status_path_(o.dir + "/status.json") {}

  [[noreturn]] void Run(int out_fd, int err_fd, const CommandImage& image) {
    DetachFromStarter();
    if (!WriteFileAtomic(o_.dir + "/supervisor.pid", SupervisorFileContent(getpid()))) {
      FailWith("supervisor", "write " + o_.dir + "/supervisor.pid: " + strerror(errno));
    }
    // With --stdin the keeper holds the FIFO open read-write for the
    // session's life: opening the read end never blocks, and the command
    // does not see EOF whenever an attach lets go of its write end.
    UniqueFd keeper, cmd_in;
    OpenStdin(&keeper, &cmd_in);
    pid_t pid = Spawn(cmd_in, out_fd, err_fd, image);
    RecordRunning(pid);
    Report("ok " + std::to_string(pid));
    RecordEnd(pid);
  }

 private:
  // Let go of the exec's pipes at once, so the exec that ran session-start
  // ends as soon as the starter does.
  static void DetachFromStarter() {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
      if (null > 2) close(null);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (chdir("/") != 0) {
      // Only relative paths would care, and o.dir is absolute.
    }
  }

  void Report(const std::string& msg) {
    WriteAll(report_fd_, msg);
    close(report_fd_);
    report_fd_ = -1;
  }

  [[noreturn]] void FailWith(const std::string& stage, const std::string& message) {
    WriteFileAtomic(status_path_, FailedJson(message) + "\n");
    Report("err " + stage + "\n" + message);
    _exit(1);
  }

  void OpenStdin(UniqueFd* keeper, UniqueFd* cmd_in) {
    if (o_.stdin_fifo) {
      std::string fifo = o_.dir + "/stdin";
      keeper->Reset(open(fifo.c_str(), O_RDWR | O_CLOEXEC));
      if (!keeper->valid()) FailWith("stdin", "open " + fifo + ": " + strerror(errno));
      cmd_in->Reset(open(fifo.c_str(), O_RDONLY | O_CLOEXEC));
      if (!cmd_in->valid()) FailWith("stdin", "open " + fifo + ": " + strerror(errno));
    } else {
      cmd_in->Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!cmd_in->valid()) FailWith("stdin", std::string("open /dev/null: ") + strerror(errno));
    }
  }

  // Forks the command into its own process group; returns once it has
  // exec'd (a failure to enter its cwd or to exec ends the supervisor).
  pid_t Spawn(UniqueFd& cmd_in, int out_fd, int err_fd, const CommandImage& image) {
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) FailWith("supervisor", std::string("pipe: ") + strerror(errno));
    pid_t pid = fork();
    if (pid < 0) FailWith("fork", std::string("fork: ") + strerror(errno));
    if (pid == 0) {
      setpgid(0, 0);
      dup2(cmd_in.get(), STDIN_FILENO);
      dup2(out_fd, STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      signal(SIGPIPE, SIG_DFL);  // ignored dispositions survive exec
      signal(SIGHUP, SIG_DFL);
      ExecReport r;
      const char* what = "";
      if (o_.resolved && !BecomeUser(*o_.resolved, -1, &what)) {
        r = {2, errno};
        WriteAll(ep[1], reinterpret_cast<const char*>(&r), sizeof(r));
        _exit(126);
      }
      if (!EnterCommandCwd(o_.cwd, o_.resolved ? o_.resolved->home : "/root")) {
        r = {0, errno};
        WriteAll(ep[1], reinterpret_cast<const char*>(&r), sizeof(r));
        _exit(126);
      }
      int err = ExecSearch(image.candidates, image.argv.data(), image.envp.data());
      r = {1, err};
      WriteAll(ep[1], reinterpret_cast<const char*>(&r), sizeof(r));
      _exit(ExecFailureCode(err));
    }
    // Also here, so the group exists before anyone is told the pid.
    setpgid(pid, pid);
    close(ep[1]);
    cmd_in.Reset();
    close(out_fd);
    close(err_fd);

    ExecReport r;
    ssize_t n;
    do {
      n = read(ep[0], &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == static_cast<ssize_t>(sizeof(r))) {
      WaitChild(pid);
      if (r.stage == 0) {
        FailWith("cwd", "cd " + (o_.cwd.empty() ? std::string("/") : o_.cwd) + ": " + strerror(r.err));
      }
      if (r.stage == 2) FailWith("user", "becoming user " + o_.user + ": " + strerror(r.err));
      FailWith("exec", o_.argv[0] + ": " + strerror(r.err));
    }
    return pid;
  }

  void RecordRunning(pid_t pid) {
    long long started = static_cast<long long>(time(nullptr));
    std::string running = "{\"state\":\"running\",\"pid\":" + std::to_string(pid) +
                          ",\"started_at\":" + std::to_string(started) + "}\n";
    if (!WriteFileAtomic(status_path_, running)) {
      // A session nobody could ever see end is worse than none.
      std::string message = "write " + status_path_ + ": " + strerror(errno);
      kill(-pid, SIGKILL);
      WaitChild(pid);
      FailWith("supervisor", message);
    }
  }

  [[noreturn]] void RecordEnd(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        WriteFileAtomic(status_path_, FailedJson(std::string("waitpid: ") + strerror(errno)) + "\n");
        _exit(1);
      }
    }
    std::string ended = ",\"ended_at\":" + std::to_string(static_cast<long long>(time(nullptr))) + "}\n";
    std::string final_status;
    if (WIFSIGNALED(status)) {
      int sig = WTERMSIG(status);
      final_status = "{\"state\":\"exited\",\"exit_code\":" + std::to_string(128 + sig) +
                     ",\"signal\":" + std::to_string(sig) + ended;
    } else {
      final_status = "{\"state\":\"exited\",\"exit_code\":" + std::to_string(WEXITSTATUS(status)) + ended;
    }
    WriteFileAtomic(status_path_, final_status);
    _exit(0);
  }

  const StartOptions& o_;
  int report_fd_;
  const std::string status_path_;
};

// Parses the arguments into *o; 0, or the exit code of a usage error
// already answered.
int ParseStartOptions(int argc, char** argv, StartOptions* o) {
  const char* usage = "usage: session-start DIR [--stdin] [--cwd D] [--env K=V]... [--user U] -- CMD ARGS...";
  if (argc < 2) return StartFail("usage", usage, 2);
  o->dir = argv[1];
  int i = 2;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--stdin") {
      o->stdin_fifo = true;
    } else if (a == "--cwd" && i + 1 < argc) {
      o->cwd = argv[++i];
    } else if (a == "--user" && i + 1 < argc) {
      o->user = argv[++i];
    } else if (a == "--env" && i + 1 < argc) {
      std::string kv = argv[++i];
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return StartFail("usage", "--env wants KEY=VALUE, not '" + kv + "'", 2);
      o->env.push_back(kv);
    } else if (a.rfind("--", 0) == 0) {
      return StartFail("usage", usage, 2);
    } else {
      break;  // the command, without a "--"
    }
  }
  for (; i < argc; ++i) o->argv.push_back(argv[i]);
  if (o->dir.empty() || o->argv.empty() || o->argv[0].empty()) return StartFail("usage", usage, 2);
  return 0;
}

// Makes o->dir absolute and prepares it: the directory, the two logs (opened
// into *out_fd, *err_fd) and the stdin FIFO. 0, or the exit code of a
// failure already answered.
int PrepareSessionDir(StartOptions* o, UniqueFd* out_fd, UniqueFd* err_fd) {
  // The supervisor leaves the starter's directory: everything absolute.
  if (o->dir[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr)
      return StartFail("dir", std::string("getcwd: ") + strerror(errno));
    o->dir = std::string(cwd) + "/" + o->dir;
  }
  if (!MkdirP(o->dir)) return StartFail("dir", "mkdir " + o->dir + ": " + strerror(errno));
  struct stat st;
  if (lstat((o->dir + "/status.json").c_str(), &st) == 0) {
    return StartFail("dir", o->dir + " already holds a session");
  }
  if (!o->cwd.empty()) {
    // Checked here too, so a mistyped directory fails clearly before
    // anything is forked.
    if (stat(o->cwd.c_str(), &st) != 0) return StartFail("cwd", "cd " + o->cwd + ": " + strerror(errno));
    if (!S_ISDIR(st.st_mode)) return StartFail("cwd", "cd " + o->cwd + ": " + strerror(ENOTDIR));
  }
  out_fd->Reset(open((o->dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out_fd->valid()) return StartFail("logs", "open " + o->dir + "/stdout: " + strerror(errno));
  err_fd->Reset(open((o->dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!err_fd->valid()) return StartFail("logs", "open " + o->dir + "/stderr: " + strerror(errno));
  if (o->stdin_fifo) {
    std::string fifo = o->dir + "/stdin";
    if (mkfifo(fifo.c_str(), 0600) != 0 &&
        !(errno == EEXIST && lstat(fifo.c_str(), &st) == 0 && S_ISFIFO(st.st_mode))) {
      return StartFail("stdin", "mkfifo " + fifo + ": " + strerror(errno));
    }
  }
  return 0;
}

// Reads the supervisor's answer until EOF, which comes once the supervisor
// wrote it (the command's copy of the pipe closed on its exec), and prints
// the starter's.
int Answer(int report_fd) {
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = read(report_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  if (answer.rfind("ok ", 0) == 0) {
    printf("{\"pid\": %d}\n", atoi(answer.c_str() + 3));
    return 0;
  }
  if (answer.rfind("err ", 0) == 0) {
    size_t nl = answer.find('\n');
    if (nl != std::string::npos) return StartFail(answer.substr(4, nl - 4), answer.substr(nl + 1));
  }
  return StartFail("supervisor", "the session's supervisor died before starting the command");
}

}  // namespace

int StartSession(int argc, char** argv) {
  StartOptions o;
  if (int code = ParseStartOptions(argc, argv, &o)) return code;
  if (!o.user.empty()) {
    // Before the directory is made: an unknown user leaves nothing behind.
    std::string why;
    o.resolved.emplace();
    if (!ResolveGuestUser(o.user, &*o.resolved, &why)) return StartFail("user", why);
  }
  UniqueFd out_fd, err_fd;
  if (int code = PrepareSessionDir(&o, &out_fd, &err_fd)) return code;

  CommandImage image;
  image.env = MergeEnv(false, o.env, o.resolved ? o.resolved->home : "/root");
  image.candidates = ExecCandidates(o.argv[0], image.env);
  for (const auto& a : o.argv) image.argv.push_back(const_cast<char*>(a.c_str()));
  image.argv.push_back(nullptr);
  for (const auto& e : image.env) image.envp.push_back(const_cast<char*>(e.c_str()));
  image.envp.push_back(nullptr);

  int rp[2];
  if (pipe2(rp, O_CLOEXEC) != 0) return StartFail("supervisor", std::string("pipe: ") + strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid_t mid = fork();
  if (mid < 0) {
    close(rp[0]);
    close(rp[1]);
    return StartFail("fork", std::string("fork: ") + strerror(errno));
  }
  if (mid == 0) {
    // The intermediate child: a new session, then the supervisor, which is
    // not a session leader (it can never get a controlling terminal) and is
    // nobody's child once this one exits.
    close(rp[0]);
    setsid();
    pid_t sup = fork();
    if (sup < 0) {
      WriteAll(rp[1], std::string("err fork\nfork: ") + strerror(errno));
      _exit(1);
    }
    if (sup == 0) Supervisor(o, rp[1]).Run(out_fd.get(), err_fd.get(), image);
    _exit(0);
  }
  close(rp[1]);
  out_fd.Reset();
  err_fd.Reset();
  WaitChild(mid);
  UniqueFd report(rp[0]);
  return Answer(report.get());
}

}  // namespace banger::agent
