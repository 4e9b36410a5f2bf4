#include "base/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
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
  pid_t pid = ::fork();
  if (pid < 0) return Error::FromErrno("fork");
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || ::dup2(devnull, 0) < 0) ChildFail(rep_w.get());
    if (::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) ChildFail(rep_w.get());
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ChildFail(rep_w.get());
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
  bool out_open = true, err_open = true, timed_out = false;
  char buf[65536];
  while (out_open || err_open) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
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
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    return Error::FromErrno("exec " + argv[0], child_errno);
  }
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
  BANGER_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, timeout, cwd));
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
  UniqueFd out_fd(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!out_fd.valid()) return Error::FromErrno("open " + out_path);
  UniqueFd err_fd(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
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
  u.cpu_ns = (utime + stime) * tick_ns;
  u.rss_bytes = rss_pages * page_bytes;
  return u;
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
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    if (!f) return false;
    std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto rp = content.rfind(')');
    if (rp == std::string::npos || rp + 2 >= content.size()) return false;
    char state = content[rp + 2];
    return state != 'Z' && state != 'X';
  }

  std::vector<std::string> Cmdline(pid_t pid) override {
    std::vector<std::string> out;
    std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    if (!f) return out;
    std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
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

}  // namespace banger
