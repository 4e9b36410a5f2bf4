#include "pid1.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace banger::agent {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kGrace{5000};        // SIGTERM to SIGKILL
constexpr milliseconds kKillWait{2000};     // SIGKILL to giving up on stragglers
constexpr milliseconds kMinBackoff{100};    // before the agent's first restart
constexpr milliseconds kMaxBackoff{5000};   // at most between restarts
constexpr milliseconds kHealthyRun{10000};  // a run this long resets the backoff
constexpr milliseconds kInputRescan{5000};  // new /dev/input/event* devices

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "banger-pid1: %s\n", line);
  fflush(stderr);
}

int64_t Ms(Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

// The mount points of /proc/self/mountinfo, in mount order (field 5, with
// its octal escapes undone).
std::vector<std::string> MountPoints() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) {
      pos = line.find(' ', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) continue;
    std::string raw = line.substr(pos, line.find(' ', pos) - pos);
    std::string mp;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '3') {
        mp += static_cast<char>(((raw[i + 1] - '0') << 6) | ((raw[i + 2] - '0') << 3) | (raw[i + 3] - '0'));
        i += 3;
      } else {
        mp += raw[i];
      }
    }
    out.push_back(mp);
  }
  return out;
}

bool IsDir(const char* path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsEmptyDir(const char* path) {
  DIR* d = opendir(path);
  if (d == nullptr) return false;
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

void MountIfMissing(const std::set<std::string>& mounted, const char* target, const char* type,
                    unsigned long flags, const char* data) {
  if (mounted.count(target) != 0) return;
  if (mount(type, target, type, flags, data) != 0)
    Log("mounting %s on %s: %s", type, target, strerror(errno));
}

// What containers expect and an image cannot bring: init.sh mounted /dev,
// /dev/pts, /proc, /sys and /run already.
void MountContainerFilesystems() {
  std::vector<std::string> list = MountPoints();
  std::set<std::string> mounted(list.begin(), list.end());
  const unsigned long kNoSuidDev = MS_NOSUID | MS_NODEV;
  mkdir("/dev/shm", 01777);
  MountIfMissing(mounted, "/dev/shm", "tmpfs", kNoSuidDev, "mode=1777");
  mkdir("/dev/mqueue", 0755);
  MountIfMissing(mounted, "/dev/mqueue", "mqueue", kNoSuidDev | MS_NOEXEC, nullptr);
  // Only an empty /tmp: a tmpfs must not hide what the image put there.
  if (IsDir("/tmp") && IsEmptyDir("/tmp")) MountIfMissing(mounted, "/tmp", "tmpfs", kNoSuidDev, "mode=1777");
  if (IsDir("/sys/fs/cgroup"))
    MountIfMissing(mounted, "/sys/fs/cgroup", "cgroup2", kNoSuidDev | MS_NOEXEC, nullptr);
  // devtmpfs has no such links; shells and `cmd <(...)` use them.
  const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "/dev/fd"},
                                                       {"/proc/self/fd/0", "/dev/stdin"},
                                                       {"/proc/self/fd/1", "/dev/stdout"},
                                                       {"/proc/self/fd/2", "/dev/stderr"}};
  for (const auto& [target, link] : links) {
    if (symlink(target, link) != 0 && errno != EEXIST) Log("linking %s: %s", link, strerror(errno));
  }
}

// The pids whose parent chain reaches `root` (without root itself).
std::vector<pid_t> Descendants(pid_t root) {
  std::map<pid_t, pid_t> parent;
  DIR* d = opendir("/proc");
  if (d == nullptr) return {};
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2)
      parent[static_cast<pid_t>(pid)] = ppid;
  }
  closedir(d);
  std::vector<pid_t> out;
  for (const auto& [pid, ppid] : parent) {
    pid_t p = ppid;
    for (int depth = 0; p > 1 && p != root && depth < 4096; ++depth) {
      auto it = parent.find(p);
      p = it == parent.end() ? 0 : it->second;
    }
    if (p == root && pid != root) out.push_back(pid);
  }
  return out;
}

// Opened /dev/input/event* devices that have a power button.
class PowerButtons {
 public:
  void Scan() {
    DIR* d = opendir("/dev/input");
    if (d == nullptr) return;
    while (dirent* e = readdir(d)) {
      if (strncmp(e->d_name, "event", 5) != 0 || seen_.count(e->d_name) != 0) continue;
      seen_.insert(e->d_name);
      std::string path = std::string("/dev/input/") + e->d_name;
      UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
      if (!fd.valid()) continue;
      unsigned long keys[KEY_MAX / (8 * sizeof(unsigned long)) + 1] = {};
      if (ioctl(fd.get(), EVIOCGBIT(EV_KEY, sizeof(keys)), keys) < 0) continue;
      constexpr size_t kBits = 8 * sizeof(unsigned long);
      if ((keys[KEY_POWER / kBits] >> (KEY_POWER % kBits) & 1UL) == 0) continue;
      Log("power button: %s", path.c_str());
      fds_.push_back(std::move(fd));
    }
    closedir(d);
  }
  const std::vector<UniqueFd>& fds() const { return fds_; }
  // True if the device behind fd reported a press of KEY_POWER.
  static bool Pressed(int fd) {
    input_event ev[16];
    bool pressed = false;
    for (;;) {
      ssize_t n = read(fd, ev, sizeof(ev));
      if (n <= 0) return pressed;
      for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(input_event); ++i) {
        if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1) pressed = true;
      }
    }
  }

 private:
  std::set<std::string> seen_;
  std::vector<UniqueFd> fds_;
};

class Init {
 public:
  Init(int argc, char** argv) : is_init_(getpid() == 1) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self_ = n > 0 ? std::string(self, static_cast<size_t>(n)) : "/usr/local/sbin/banger-agent";
    args_.emplace_back("banger-agent");
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
  }

  int Run() {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    sig_fd_.Reset(signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sig_fd_.valid()) Log("signalfd: %s", strerror(errno));
    if (is_init_) {
      // Ctrl-Alt-Del becomes SIGINT to this process instead of a reboot.
      if (reboot(RB_DISABLE_CAD) != 0) Log("disabling Ctrl-Alt-Del: %s", strerror(errno));
      MountContainerFilesystems();
    } else {
      prctl(PR_SET_CHILD_SUBREAPER, 1);
    }
    buttons_.Scan();
    auto next_scan = Clock::now() + kInputRescan;
    StartAgent();
    for (;;) {
      auto now = Clock::now();
      auto wake = next_scan;
      if (agent_ < 0) wake = std::min(wake, restart_at_);
      std::vector<pollfd> pfds;
      pfds.push_back({sig_fd_.get(), POLLIN, 0});
      for (const auto& b : buttons_.fds()) pfds.push_back({b.get(), POLLIN, 0});
      int timeout = static_cast<int>(std::max<int64_t>(0, Ms(wake - now)) + 1);
      if (poll(pfds.data(), pfds.size(), timeout) < 0 && errno != EINTR) {
        Log("poll: %s", strerror(errno));
        sleep(1);
      }
      HandleSignals();
      Reap();
      for (size_t i = 1; i < pfds.size(); ++i) {
        if ((pfds[i].revents & POLLIN) != 0 && PowerButtons::Pressed(pfds[i].fd)) {
          shutdown_ = "power button";
        }
      }
      if (!shutdown_.empty()) return Shutdown();
      now = Clock::now();
      if (agent_ < 0 && now >= restart_at_) StartAgent();
      if (now >= next_scan) {
        buttons_.Scan();
        next_scan = now + kInputRescan;
      }
    }
  }

 private:
  void StartAgent() {
    std::vector<char*> argv;
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      Log("starting the agent: fork: %s", strerror(errno));
      ScheduleRestart();
      return;
    }
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      // Its own session: nothing typed on the console can signal it.
      setsid();
      int null = open("/dev/null", O_RDONLY);
      if (null > 0) {
        dup2(null, STDIN_FILENO);
        close(null);
      }
      execv(self_.c_str(), argv.data());
      Log("starting the agent: exec %s: %s", self_.c_str(), strerror(errno));
      _exit(127);
    }
    agent_ = pid;
    agent_started_ = Clock::now();
  }

  void ScheduleRestart() {
    auto now = Clock::now();
    if (now - agent_started_ >= kHealthyRun) backoff_ = kMinBackoff;
    restart_at_ = now + backoff_;
    Log("restarting the agent in %lld ms", static_cast<long long>(backoff_.count()));
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  }

  void HandleSignals() {
    signalfd_siginfo si;
    while (read(sig_fd_.get(), &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
      switch (si.ssi_signo) {
        case SIGTERM:
          shutdown_ = "SIGTERM";
          break;
        case SIGPWR:
          shutdown_ = "SIGPWR";
          break;
        case SIGINT:
          shutdown_ = "Ctrl-Alt-Del";
          reboot_ = true;
          break;
        default:
          break;  // SIGCHLD: Reap() runs after every wake-up; the rest is ignored
      }
    }
  }

  // Reaps every exited child (orphans included); true once none is left.
  bool Reap() {
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid < 0) return errno == ECHILD;
      if (pid == 0) return false;
      if (pid != agent_) continue;
      agent_ = -1;
      if (!shutdown_.empty()) continue;
      if (WIFSIGNALED(status)) {
        Log("the agent was killed by signal %d", WTERMSIG(status));
      } else {
        Log("the agent exited with status %d", WEXITSTATUS(status));
      }
      ScheduleRestart();
    }
  }

  void SignalAll(int signo) {
    if (is_init_) {
      kill(-1, signo);  // every process but this one
      return;
    }
    for (pid_t p : Descendants(getpid())) kill(p, signo);
  }

  // Waits until no child is left, reaping; false at the deadline.
  bool WaitForNoChildren(milliseconds limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
      if (Reap()) return true;
      auto left = Ms(deadline - Clock::now());
      if (left <= 0) return false;
      pollfd p = {sig_fd_.get(), POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
      signalfd_siginfo si;
      while (read(sig_fd_.get(), &si, sizeof(si)) > 0) {
      }
    }
  }

  // Unmounts every filesystem it can, newest first, and remounts the rest
  // (the root among them) read-only. /dev, /proc and /sys hold nothing.
  static void UnmountAll() {
    std::vector<std::string> mps = MountPoints();
    auto virtual_fs = [](const std::string& mp) {
      for (const char* top : {"/dev", "/proc", "/sys"}) {
        size_t n = strlen(top);
        if (mp.compare(0, n, top) == 0 && (mp.size() == n || mp[n] == '/')) return true;
      }
      return false;
    };
    for (auto it = mps.rbegin(); it != mps.rend(); ++it) {
      if (*it == "/" || virtual_fs(*it)) continue;
      if (umount2(it->c_str(), 0) != 0) mount(nullptr, it->c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
    }
    if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      Log("remounting / read-only: %s", strerror(errno));
    }
  }

  int Shutdown() {
    auto start = Clock::now();
    Log("%s: stopping every process", shutdown_.c_str());
    SignalAll(SIGTERM);
    SignalAll(SIGCONT);
    if (!WaitForNoChildren(kGrace)) {
      Log("processes left after %lld ms: SIGKILL", static_cast<long long>(kGrace.count()));
      SignalAll(SIGKILL);
      if (!WaitForNoChildren(kKillWait)) Log("processes survived SIGKILL");
    }
    sync();
    if (!is_init_) {
      Log("stopped in %lld ms", static_cast<long long>(Ms(Clock::now() - start)));
      return 0;
    }
    UnmountAll();
    sync();
    Log("%s after %lld ms", reboot_ ? "rebooting" : "powering off",
        static_cast<long long>(Ms(Clock::now() - start)));
    reboot(reboot_ ? RB_AUTOBOOT : RB_POWER_OFF);
    // Only if the kernel refused: PID 1 must not exit.
    Log("reboot: %s", strerror(errno));
    for (;;) pause();
  }

  const bool is_init_;
  std::string self_;
  std::vector<std::string> args_;
  UniqueFd sig_fd_;
  PowerButtons buttons_;
  pid_t agent_ = -1;
  Clock::time_point agent_started_{}, restart_at_{};
  milliseconds backoff_ = kMinBackoff;
  std::string shutdown_;  // why, once a shutdown was asked for
  bool reboot_ = false;
};

}  // namespace

int RunPid1(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: banger-agent --pid1 AGENT_ARGS...\n");
    if (getpid() != 1) return 2;
  }
  // As PID 1 with no arguments it still never returns: it reaps and waits
  // for the power button, with an agent that keeps failing on its usage.
  return Init(argc, argv).Run();
}

}  // namespace banger::agent
