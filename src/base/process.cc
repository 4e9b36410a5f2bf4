#include "base/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "base/fs.h"
#include "base/strings.h"
#include "base/unique_fd.h"

extern char** environ;

namespace banger {
namespace {

std::vector<char*> CArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Only async-signal-safe calls between fork and exec.
[[noreturn]] void ChildFail(int report_fd) {
  int err = errno;
  ssize_t n = ::write(report_fd, &err, sizeof err);
  (void)n;
  _exit(127);
}

// Closes every descriptor >= 3 but those in `keep` (sorted, unique), and
// clears close-on-exec on the kept ones. Async-signal-safe.
bool CloseAllBut(const int* keep, size_t n) {
  unsigned int next = 3;
  for (size_t i = 0; i < n; ++i) {
    if (keep[i] < 3) continue;
    auto k = static_cast<unsigned int>(keep[i]);
    if (k > next && ::syscall(SYS_close_range, next, k - 1, 0) != 0) return false;
    next = k + 1;
  }
  return ::syscall(SYS_close_range, next, ~0U, 0) == 0;
}

// Drops to `who` (setgroups, setgid, setuid) and sets no_new_privs.
// Async-signal-safe (raw syscalls: glibc's set*id broadcast is not needed in
// a single-threaded child).
bool DropTo(const Credentials* who, bool no_new_privs) {
  if (who != nullptr) {
    if (::syscall(SYS_setgroups, who->groups.size(), who->groups.empty() ? nullptr : who->groups.data()) != 0)
      return false;
    if (::syscall(SYS_setresgid, who->gid, who->gid, who->gid) != 0) return false;
    if (::syscall(SYS_setresuid, who->uid, who->uid, who->uid) != 0) return false;
  }
  if ((no_new_privs || who != nullptr) && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return true;
}

// Writes "0" (the writer's own pid) into a cgroup.procs file; async-signal-safe.
bool WriteZeroTo(const char* path) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "0", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace

Result<std::string> FindExecutable(const std::string& name) {
  if (name.empty()) return Error::Invalid("empty program name");
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) return Error::FromErrno(name);
    struct stat st {};
    if (::stat(name.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Error::Unavailable(name + ": not a regular file");
    }
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string cand = dir + "/" + name;
    struct stat st {};
    if (::access(cand.c_str(), X_OK) == 0 && ::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      return cand;
    }
  }
  return Error::Unavailable(name + ": not found in PATH");
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                 const std::string& cwd) {
  return RunCommand(argv, RunOptions{.timeout = timeout, .cwd = cwd});
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const RunOptions& opts) {
  const auto timeout = opts.timeout;
  const std::string& cwd = opts.cwd;
  const Credentials* who = opts.run_as ? &*opts.run_as : nullptr;
  if (argv.empty()) return Error::Invalid("RunCommand: empty argv");
  BANGER_ASSIGN_OR_RETURN(std::string exe, FindExecutable(argv[0]));
  int outp[2], errp[2], rep[2];
  if (::pipe2(outp, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  UniqueFd out_r(outp[0]), out_w(outp[1]);
  if (::pipe2(errp, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  UniqueFd err_r(errp[0]), err_w(errp[1]);
  if (::pipe2(rep, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  UniqueFd rep_r(rep[0]), rep_w(rep[1]);
  auto cargv = CArgv(argv);
  std::vector<int> keep = opts.keep_fds;
  keep.push_back(rep_w.get());
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  pid_t pid = ::fork();
  if (pid < 0) return Error::FromErrno("fork");
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || ::dup2(devnull, 0) < 0) ChildFail(rep_w.get());
    if (::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) ChildFail(rep_w.get());
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ChildFail(rep_w.get());
    if (!CloseAllBut(keep.data(), keep.size()) || !DropTo(who, false)) ChildFail(rep_w.get());
    for (int fd : opts.keep_fds) {
      if (fd > 2 && ::fcntl(fd, F_SETFD, 0) != 0) ChildFail(rep_w.get());
    }
    ::execv(exe.c_str(), cargv.data());
    ChildFail(rep_w.get());
  }
  out_w.Reset();
  err_w.Reset();
  rep_w.Reset();
  int child_errno = 0;
  ssize_t n = ::read(rep_r.get(), &child_errno, sizeof child_errno);
  CommandResult res;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true, timed_out = false, stopped = false;
  constexpr auto kTick = std::chrono::milliseconds(500);
  auto next_tick = std::chrono::steady_clock::now() + kTick;
  char buf[65536];
  while (out_open || err_open) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (opts.keep_going) {
      if (std::chrono::steady_clock::now() >= next_tick) {
        next_tick = std::chrono::steady_clock::now() + kTick;
        if (!opts.keep_going(res)) {
          stopped = true;
          break;
        }
      }
      left = std::min(left, kTick);
    }
    pollfd fds[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
    int pr = ::poll(fds, 2, static_cast<int>(left.count()));
    if (pr < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? res.out : res.err).append(buf, static_cast<size_t>(r));
      }
    }
  }
  if (timed_out || stopped) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    return Error::FromErrno("exec " + argv[0], child_errno);
  }
  if (stopped) return Error::Internal(argv[0] + " stopped");
  if (timed_out) {
    return Error::Timeout(argv[0] + " did not finish within " + std::to_string(timeout.count() / 1000) + "s");
  }
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.term_signal = WTERMSIG(status);
  }
  return res;
}

Result<CommandResult> RunChecked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                 const std::string& cwd) {
  return RunChecked(argv, RunOptions{.timeout = timeout, .cwd = cwd});
}

Result<CommandResult> RunChecked(const std::vector<std::string>& argv, const RunOptions& opts) {
  BANGER_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, opts));
  if (r.exit_code != 0) {
    std::string why = LastLine(r.err);
    if (why.empty()) why = LastLine(r.out);
    std::string status = r.exit_code >= 0 ? "exit status " + std::to_string(r.exit_code)
                                          : "signal " + std::to_string(r.term_signal);
    return Error::Internal(argv[0] + " failed (" + status + ")" + (why.empty() ? "" : ": " + why));
  }
  return r;
}

Result<pid_t> SpawnDetached(const SpawnOptions& opts) {
  if (opts.argv.empty()) return Error::Invalid("spawn: empty argv");
  BANGER_ASSIGN_OR_RETURN(std::string exe, FindExecutable(opts.argv[0]));
  std::string out_path = opts.stdout_path.empty() ? "/dev/null" : opts.stdout_path;
  std::string err_path = opts.stderr_path.empty() ? out_path : opts.stderr_path;
  UniqueFd out_fd(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out_fd.valid()) return Error::FromErrno("open " + out_path);
  UniqueFd err_fd(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!err_fd.valid()) return Error::FromErrno("open " + err_path);
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd.valid()) return Error::FromErrno("open /dev/null");

  // Report pipe: the grandchild's pid, then (only on failure) errno.
  int rep[2];
  if (::pipe2(rep, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  UniqueFd rep_r(rep[0]), rep_w(rep[1]);

  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && opts.extra_env.count(kv.substr(0, eq))) continue;
    envs.push_back(kv);
  }
  for (const auto& [k, v] : opts.extra_env) envs.push_back(k + "=" + v);
  auto cenv = CArgv(envs);
  auto cargv = CArgv(opts.argv);
  // What survives into the VMM: the kept fds and the report pipe (close-on-exec).
  std::vector<int> keep = opts.keep_fds;
  keep.push_back(rep_w.get());
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  const Credentials* who = opts.run_as ? &*opts.run_as : nullptr;

  pid_t mid = ::fork();
  if (mid < 0) return Error::FromErrno("fork");
  if (mid == 0) {
    // Intermediate: new session, fork the real process, exit.
    ::setsid();
    pid_t pid = ::fork();
    if (pid < 0) ChildFail(rep_w.get());
    if (pid > 0) {
      ssize_t w = ::write(rep_w.get(), &pid, sizeof pid);
      (void)w;
      _exit(0);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
    }
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(out_fd.get(), 1) < 0 || ::dup2(err_fd.get(), 2) < 0) {
      ChildFail(rep_w.get());
    }
    if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) != 0) ChildFail(rep_w.get());
    for (const auto& f : opts.cgroup_procs_files) {
      if (!WriteZeroTo(f.c_str())) ChildFail(rep_w.get());
    }
    if (!CloseAllBut(keep.data(), keep.size())) ChildFail(rep_w.get());
    for (int fd : opts.keep_fds) {
      if (fd > 2 && ::fcntl(fd, F_SETFD, 0) != 0) ChildFail(rep_w.get());
    }
    if (!DropTo(who, opts.no_new_privs)) ChildFail(rep_w.get());
    ::execve(exe.c_str(), cargv.data(), cenv.data());
    ChildFail(rep_w.get());
  }
  rep_w.Reset();
  int status = 0;
  while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t pid = -1;
  ssize_t n = ::read(rep_r.get(), &pid, sizeof pid);
  if (n != static_cast<ssize_t>(sizeof pid))
    return Error::Internal("spawn " + opts.argv[0] + ": fork failed");
  int child_errno = 0;
  n = ::read(rep_r.get(), &child_errno, sizeof child_errno);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    return Error::FromErrno("exec " + opts.argv[0], child_errno);
  }
  return pid;
}

bool CmdlineMentions(const std::vector<std::string>& cmdline, const std::string& arg) {
  if (arg.empty()) return false;
  for (const auto& a : cmdline) {
    if (a == arg) return true;
    if (a.size() > arg.size() && a.compare(a.size() - arg.size(), arg.size(), arg) == 0 &&
        a[a.size() - arg.size() - 1] == '=') {
      return true;
    }
    // QEMU-style option lists: "unix:/p,server=on" or "socket,path=/p,..."
    for (const std::string& pre : {std::string("path=") + arg, std::string("unix:") + arg}) {
      auto pos = a.find(pre);
      if (pos == std::string::npos) continue;
      size_t end = pos + pre.size();
      if (end == a.size() || a[end] == ',') return true;
    }
  }
  return false;
}

Result<ProcUsage> ParseProcStat(const std::string& text, int64_t tick_ns, int64_t page_bytes) {
  // "pid (comm) state ppid ..." -- fields after the last ')' start at field 3.
  auto rp = text.rfind(')');
  if (rp == std::string::npos) return Error::Internal("/proc stat: no command name");
  std::istringstream in(text.substr(rp + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string w; in >> w;) f.push_back(w);
  // utime = field 14, stime = 15, vsize = 23, rss = 24.
  if (f.size() < 22) return Error::Internal("/proc stat: too few fields");
  auto num = [&](size_t field) -> Result<int64_t> {
    const std::string& s = f[field - 3];
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (end == s.c_str() || *end != '\0')
      return Error::Internal("/proc stat: field " + std::to_string(field) + " is not a number");
    return static_cast<int64_t>(v);
  };
  ProcUsage u;
  BANGER_ASSIGN_OR_RETURN(int64_t utime, num(14));
  BANGER_ASSIGN_OR_RETURN(int64_t stime, num(15));
  BANGER_ASSIGN_OR_RETURN(u.vsz_bytes, num(23));
  BANGER_ASSIGN_OR_RETURN(int64_t rss_pages, num(24));
  // The kernel never writes negative or overflowing counts; a text that does
  // is refused rather than multiplied (signed overflow is undefined).
  int64_t ticks = 0;
  if (utime < 0 || stime < 0 || u.vsz_bytes < 0 || rss_pages < 0 ||
      __builtin_add_overflow(utime, stime, &ticks) || __builtin_mul_overflow(ticks, tick_ns, &u.cpu_ns) ||
      __builtin_mul_overflow(rss_pages, page_bytes, &u.rss_bytes)) {
    return Error::Internal("/proc stat: a count is negative or out of range");
  }
  return u;
}

Result<uint64_t> ParseStartTime(const std::string& text) {
  auto rp = text.rfind(')');
  if (rp == std::string::npos) return Error::Internal("/proc stat: no command name");
  std::istringstream in(text.substr(rp + 1));
  std::string w;
  for (int field = 3; in >> w; ++field) {
    if (field != 22) continue;
    char* end = nullptr;
    unsigned long long v = std::strtoull(w.c_str(), &end, 10);
    if (end == w.c_str() || *end != '\0') return Error::Internal("/proc stat: start time is not a number");
    return static_cast<uint64_t>(v);
  }
  return Error::Internal("/proc stat: too few fields");
}

Result<uid_t> ParseStatusUid(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream f(line.substr(4));
    unsigned long real = 0, effective = 0;
    if (!(f >> real >> effective)) break;
    return static_cast<uid_t>(effective);
  }
  return Error::Internal("/proc status: no Uid line");
}

bool IdentityMatches(const ProcIdentity& recorded, const ProcIdentity& seen) {
  if (!recorded.known() || !seen.known()) return false;
  if (seen.pid != recorded.pid || seen.start_time != recorded.start_time) return false;
  if (seen.exe_dev != recorded.exe_dev || seen.exe_ino != recorded.exe_ino) return false;
  return seen.uid == recorded.uid || seen.uid == ::geteuid();
}

bool IsSameProcess(ProcessOps& ops, const ProcIdentity& recorded) {
  if (!recorded.known()) return false;
  auto seen = ops.Identify(recorded.pid);
  return seen.ok() && IdentityMatches(recorded, *seen);
}

bool AliveAndNames(ProcessOps& ops, pid_t pid, const std::string& control_sock) {
  return pid > 0 && ops.Alive(pid) && CmdlineMentions(ops.Cmdline(pid), control_sock);
}

namespace {
namespace impl {

class RealProcessOps final : public ProcessOps {
 public:
  bool Alive(pid_t pid) override {
    if (pid <= 0) return false;
    // ReadFile opens O_CLOEXEC (an ifstream does not): another thread may
    // be spawning a VMM meanwhile.
    auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    if (!stat.ok()) return false;
    const std::string& content = *stat;
    auto rp = content.rfind(')');
    if (rp == std::string::npos || rp + 2 >= content.size()) return false;
    char state = content[rp + 2];
    return state != 'Z' && state != 'X';
  }

  std::vector<std::string> Cmdline(pid_t pid) override {
    std::vector<std::string> out;
    auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (!cmdline.ok()) return out;
    const std::string& content = *cmdline;
    std::string cur;
    for (char c : content) {
      if (c == '\0') {
        out.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  }

  std::vector<pid_t> FindByArg(const std::string& arg) override {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long v = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || v <= 0) continue;
      pid_t pid = static_cast<pid_t>(v);
      if (AliveAndNames(*this, pid, arg)) out.push_back(pid);
    }
    ::closedir(d);
    return out;
  }

  Status Signal(pid_t pid, int sig) override {
    if (pid <= 0) return Error::Invalid("signal: bad pid");
    if (::kill(pid, sig) != 0) {
      if (errno == ESRCH) return OkStatus();
      return Error::FromErrno("kill " + std::to_string(pid));
    }
    return OkStatus();
  }

  Result<ProcIdentity> Identify(pid_t pid) override {
    if (pid <= 0) return Error::Invalid("identify: bad pid");
    std::string dir = "/proc/" + std::to_string(pid);
    auto gone = [&] { return Error::NotFound("process " + std::to_string(pid) + " is gone"); };
    auto stat = ReadFile(dir + "/stat");
    if (!stat.ok()) return gone();
    auto rp = stat->rfind(')');
    if (rp == std::string::npos || rp + 2 >= stat->size()) return gone();
    char state = (*stat)[rp + 2];
    if (state == 'Z' || state == 'X') return gone();
    ProcIdentity id;
    id.pid = pid;
    BANGER_ASSIGN_OR_RETURN(id.start_time, ParseStartTime(*stat));
    auto status = ReadFile(dir + "/status");
    if (!status.ok()) return gone();
    BANGER_ASSIGN_OR_RETURN(id.uid, ParseStatusUid(*status));
    struct stat st {};
    if (::stat((dir + "/exe").c_str(), &st) != 0) {
      // A kernel thread or a process that exited meanwhile has no exe.
      if (errno == ENOENT || errno == ESRCH) return gone();
      return Error::FromErrno("stat " + dir + "/exe");
    }
    id.exe_dev = static_cast<uint64_t>(st.st_dev);
    id.exe_ino = static_cast<uint64_t>(st.st_ino);
    return id;
  }

  Status SignalIf(const ProcIdentity& who, int sig) override {
    if (!who.known()) return Error::Invalid("signal: unknown process identity");
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, who.pid, 0)));
    if (!pidfd.valid() && errno == ESRCH) return OkStatus();
    // The pidfd (when the kernel has them) pins the process: once it is
    // open, the pid cannot be recycled under us, so the check below holds
    // for the process the signal goes to.
    auto seen = Identify(who.pid);
    if (!seen.ok()) {
      if (seen.error().kind() == ErrorKind::kNotFound) return OkStatus();
      return std::move(seen).error();
    }
    if (!IdentityMatches(who, *seen)) {
      return Error::Conflict("pid " + std::to_string(who.pid) +
                             " is no longer the process recorded; left alone");
    }
    if (pidfd.valid()) {
      if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) != 0 && errno != ESRCH) {
        return Error::FromErrno("pidfd_send_signal " + std::to_string(who.pid));
      }
      return OkStatus();
    }
    return Signal(who.pid, sig);
  }

  Result<ProcUsage> Usage(pid_t pid) override {
    if (pid <= 0) return Error::Invalid("usage: bad pid");
    auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    if (!text.ok()) return Error::NotFound("process " + std::to_string(pid) + " is gone");
    static const int64_t tick_ns = 1000000000LL / ::sysconf(_SC_CLK_TCK);
    static const int64_t page = ::sysconf(_SC_PAGESIZE);
    return ParseProcStat(*text, tick_ns, page);
  }
};

}  // namespace impl
}  // namespace

ProcessOps& RealProcessOps() {
  static impl::RealProcessOps ops;
  return ops;
}

Result<int> ProbeErrnoAs(const Credentials& who, const std::string& path, ErrnoProbe probe, int arg) {
  pid_t child = ::fork();
  if (child < 0) return Error::FromErrno("fork");
  if (child == 0) {
    // Only async-signal-safe calls between fork and _exit.
    if (::setgroups(who.groups.size(), who.groups.data()) != 0 || ::setgid(who.gid) != 0 ||
        ::setuid(who.uid) != 0) {
      ::_exit(255);
    }
    ::_exit(probe(path.c_str(), arg) & 0xff);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return Error::FromErrno("waitpid");
  }
  if (!WIFEXITED(status)) return Error::Internal("access probe for " + path + " died");
  int code = WEXITSTATUS(status);
  if (code == 255) {
    return Error::Internal("access probe for " + path + ": cannot take uid " + std::to_string(who.uid));
  }
  return code;
}

}  // namespace banger
