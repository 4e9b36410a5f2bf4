#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "spawn.h"

namespace banger::agent {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kChunk = 64 * 1024;
// Per log and pass of a follow loop, so stdin forwarding and the end check
// keep going while a command writes faster than we copy.
constexpr size_t kMaxPass = 1024 * 1024;
constexpr int kPollMs = 100;
// After SIGKILL, how long session-stop waits for the end to be recorded.
constexpr double kKillGraceSeconds = 5;

// --- small helpers ---

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string FailedJson(const std::string& message) {
  return "{\"state\":\"failed\",\"message\":" + JsonQuote(message) + "}";
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
bool WriteAll(int fd, const std::string& s) { return WriteAll(fd, s.data(), s.size()); }

// Small files only (status, pid files): at most 64 KiB.
bool ReadSmallFile(const std::string& path, std::string* out) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  out->clear();
  char buf[4096];
  while (out->size() < kChunk) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  return true;
}

// Temp file + fsync + rename: readers see the old content or the new one.
bool WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return false;
  if (!WriteAll(fd.get(), content) || fsync(fd.get()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    errno = err;
    return false;
  }
  fd.Reset();
  return rename(tmp.c_str(), path.c_str()) == 0;
}

void SleepMs(int ms) { poll(nullptr, 0, ms); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Where the value of "key" starts in a flat JSON object (the supervisor's
// own status.json), or npos. Only a key right after '{' or ',' counts, so a
// quoted "key" inside a message string is not taken for it.
size_t FindValue(const std::string& j, const std::string& key) {
  std::string pat = "\"" + key + "\"";
  for (size_t pos = j.find(pat); pos != std::string::npos; pos = j.find(pat, pos + 1)) {
    size_t before = pos;
    while (before > 0 && IsSpace(j[before - 1])) --before;
    size_t after = pos + pat.size();
    while (after < j.size() && IsSpace(j[after])) ++after;
    if (before == 0 || (j[before - 1] != '{' && j[before - 1] != ',')) continue;
    if (after >= j.size() || j[after] != ':') continue;
    ++after;
    while (after < j.size() && IsSpace(j[after])) ++after;
    return after;
  }
  return std::string::npos;
}

std::optional<std::string> JsonString(const std::string& j, const std::string& key) {
  size_t i = FindValue(j, key);
  if (i == std::string::npos || i >= j.size() || j[i] != '"') return std::nullopt;
  std::string out;
  for (++i; i < j.size(); ++i) {
    char c = j[i];
    if (c == '"') return out;
    if (c == '\\' && i + 1 < j.size()) {
      char e = j[++i];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (i + 4 < j.size()) {
            out += static_cast<char>(strtol(j.substr(i + 1, 4).c_str(), nullptr, 16));
            i += 4;
          }
          break;
        default:
          out += e;
      }
    } else {
      out += c;
    }
  }
  return std::nullopt;
}

std::optional<long long> JsonInt(const std::string& j, const std::string& key) {
  size_t i = FindValue(j, key);
  if (i == std::string::npos) return std::nullopt;
  const char* start = j.c_str() + i;
  char* end = nullptr;
  long long v = strtoll(start, &end, 10);
  if (end == start) return std::nullopt;
  return v;
}

// --- process identity ---

std::string BootId() {
  std::string id;
  if (!ReadSmallFile("/proc/sys/kernel/random/boot_id", &id)) return {};
  return Trim(id);
}

// Field 22 of /proc/<pid>/stat (clock ticks since boot), or "" if unknown.
std::string StartTime(pid_t pid) {
  std::string stat;
  if (!ReadSmallFile("/proc/" + std::to_string(pid) + "/stat", &stat)) return {};
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return {};
  // After ") ": field 3 (state) onwards; the start time is field 22.
  size_t pos = paren + 2;
  for (int field = 3; field < 22; ++field) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos) return {};
    ++pos;
  }
  size_t end = stat.find(' ', pos);
  return stat.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

// A zombie counts as gone: it has ended, only its parent has not reaped it
// (an init that does not reap orphans would otherwise keep it "alive").
bool PidExists(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
  std::string stat;
  if (!ReadSmallFile("/proc/" + std::to_string(pid) + "/stat", &stat)) return true;
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

struct SupervisorId {
  pid_t pid = 0;
  std::string boot, start;  // "" when unknown
};

std::string SupervisorFileContent(pid_t pid) {
  return std::to_string(pid) + "\n" + BootId() + " " + StartTime(pid) + "\n";
}

std::optional<SupervisorId> ReadSupervisor(const std::string& dir) {
  std::string text;
  if (!ReadSmallFile(dir + "/supervisor.pid", &text)) return std::nullopt;
  SupervisorId id;
  id.pid = static_cast<pid_t>(atoi(text.c_str()));
  if (id.pid <= 0) return std::nullopt;
  size_t nl = text.find('\n');
  if (nl != std::string::npos) {
    std::string rest = Trim(text.substr(nl + 1));
    size_t sp = rest.find(' ');
    id.boot = rest.substr(0, sp);
    if (sp != std::string::npos) id.start = rest.substr(sp + 1);
  }
  return id;
}

// Pids recorded before a reboot name nothing of ours.
bool SameBoot(const std::optional<SupervisorId>& sup) {
  if (!sup || sup->boot.empty()) return true;
  std::string now = BootId();
  return now.empty() || now == sup->boot;
}

bool SupervisorAlive(const std::optional<SupervisorId>& sup) {
  if (!sup || !SameBoot(sup) || !PidExists(sup->pid)) return false;
  if (sup->start.empty()) return true;
  std::string now = StartTime(sup->pid);
  return now.empty() || now == sup->start;  // a different start: a reused pid
}

// The command leads its own process group for its whole life.
bool CommandAlive(pid_t pid, const std::optional<SupervisorId>& sup) {
  return pid > 0 && SameBoot(sup) && PidExists(pid) && getpgid(pid) == pid;
}

// --- reading a session's state ---

struct SessionState {
  enum Kind { kMissingDir, kRunning, kEnded } kind = kEnded;
  std::string json;  // what session-status prints
  pid_t pid = 0;     // the command's, when known
};

SessionState ReadState(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return {SessionState::kMissingDir, FailedJson("no such session directory"), 0};
  }
  // A second look when the supervisor is gone: it may have recorded the end
  // between our read of status.json and its exit.
  for (int attempt = 0;; ++attempt) {
    std::string j;
    bool have = ReadSmallFile(dir + "/status.json", &j);
    auto sup = ReadSupervisor(dir);
    bool sup_alive = SupervisorAlive(sup);
    if (!have) {
      // Only between the supervisor's start and its first status write
      // (session-start has not returned yet): running, pid not known yet.
      if (sup_alive) return {SessionState::kRunning, "{\"state\":\"running\"}", 0};
      if (attempt == 0) continue;
      return {SessionState::kEnded, FailedJson("the session has no status"), 0};
    }
    j = Trim(j);
    auto state = JsonString(j, "state");
    if (!state) {
      if (attempt == 0) continue;
      return {SessionState::kEnded, FailedJson("unreadable status.json"), 0};
    }
    pid_t pid = static_cast<pid_t>(JsonInt(j, "pid").value_or(0));
    if (*state != "running") return {SessionState::kEnded, j, pid};
    if (sup_alive || CommandAlive(pid, sup)) return {SessionState::kRunning, j, pid};
    if (attempt == 0) continue;
    return {SessionState::kEnded, FailedJson("the session's supervisor died"), pid};
  }
}

int Fail(const std::string& cmd, const std::string& message, int code = 1) {
  fprintf(stderr, "banger-agent: %s: %s\n", cmd.c_str(), message.c_str());
  return code;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// mkdir -p: missing parents 0755, DIR itself 0700.
bool MkdirP(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), pos == dir.size() ? 0700 : 0755) != 0 && errno != EEXIST) return false;
  }
  if (!IsDir(dir)) {
    errno = ENOTDIR;
    return false;
  }
  return true;
}

// --- session-start ---

struct StartOptions {
  std::string dir, cwd;
  bool stdin_fifo = false;
  std::vector<std::string> env, argv;
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
  int32_t stage;  // 0 = cwd, 1 = exec
  int32_t err;
};

// The supervisor: runs in its own session, never returns. Tells the starter
// through report_fd "ok <pid>" or "err <stage>\n<message>".
[[noreturn]] void Supervise(const StartOptions& o, int report_fd, int out_fd, int err_fd,
                            const std::vector<std::string>& candidates, char* const* argv,
                            char* const* envp) {
  // Let go of the exec's pipes at once, so the exec that ran session-start
  // ends as soon as the starter does.
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

  const std::string status_path = o.dir + "/status.json";
  auto report = [&](const std::string& msg) {
    WriteAll(report_fd, msg);
    close(report_fd);
    report_fd = -1;
  };
  auto fail = [&](const std::string& stage, const std::string& message) {
    WriteFileAtomic(status_path, FailedJson(message) + "\n");
    report("err " + stage + "\n" + message);
    _exit(1);
  };

  if (!WriteFileAtomic(o.dir + "/supervisor.pid", SupervisorFileContent(getpid()))) {
    fail("supervisor", "write " + o.dir + "/supervisor.pid: " + strerror(errno));
  }

  // With --stdin the supervisor holds the FIFO open read-write for the
  // session's life: opening the read end never blocks, and the command does
  // not see EOF whenever an attach lets go of its write end.
  UniqueFd keeper, cmd_in;
  if (o.stdin_fifo) {
    std::string fifo = o.dir + "/stdin";
    keeper.Reset(open(fifo.c_str(), O_RDWR | O_CLOEXEC));
    if (!keeper.valid()) fail("stdin", "open " + fifo + ": " + strerror(errno));
    cmd_in.Reset(open(fifo.c_str(), O_RDONLY | O_CLOEXEC));
    if (!cmd_in.valid()) fail("stdin", "open " + fifo + ": " + strerror(errno));
  } else {
    cmd_in.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!cmd_in.valid()) fail("stdin", std::string("open /dev/null: ") + strerror(errno));
  }

  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) fail("supervisor", std::string("pipe: ") + strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fail("fork", std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    dup2(cmd_in.get(), STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    signal(SIGPIPE, SIG_DFL);  // ignored dispositions survive exec
    signal(SIGHUP, SIG_DFL);
    ExecReport r;
    if (!EnterCommandCwd(o.cwd)) {
      r = {0, errno};
      WriteAll(ep[1], reinterpret_cast<const char*>(&r), sizeof(r));
      _exit(126);
    }
    int err = ExecSearch(candidates, argv, envp);
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
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (r.stage == 0) {
      fail("cwd", "cd " + (o.cwd.empty() ? std::string("/") : o.cwd) + ": " + strerror(r.err));
    }
    fail("exec", o.argv[0] + ": " + strerror(r.err));
  }

  long long started = static_cast<long long>(time(nullptr));
  std::string running = "{\"state\":\"running\",\"pid\":" + std::to_string(pid) +
                        ",\"started_at\":" + std::to_string(started) + "}\n";
  if (!WriteFileAtomic(status_path, running)) {
    // A session nobody could ever see end is worse than none.
    std::string message = "write " + status_path + ": " + strerror(errno);
    kill(-pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    fail("supervisor", message);
  }
  report("ok " + std::to_string(pid));

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      WriteFileAtomic(status_path, FailedJson(std::string("waitpid: ") + strerror(errno)) + "\n");
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
  WriteFileAtomic(status_path, final_status);
  _exit(0);
}

int Start(int argc, char** argv) {
  const char* usage = "usage: session-start DIR [--stdin] [--cwd D] [--env K=V]... -- CMD ARGS...";
  if (argc < 2) return StartFail("usage", usage, 2);
  StartOptions o;
  o.dir = argv[1];
  int i = 2;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--stdin") {
      o.stdin_fifo = true;
    } else if (a == "--cwd" && i + 1 < argc) {
      o.cwd = argv[++i];
    } else if (a == "--env" && i + 1 < argc) {
      std::string kv = argv[++i];
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return StartFail("usage", "--env wants KEY=VALUE, not '" + kv + "'", 2);
      o.env.push_back(kv);
    } else if (a.rfind("--", 0) == 0) {
      return StartFail("usage", usage, 2);
    } else {
      break;  // the command, without a "--"
    }
  }
  for (; i < argc; ++i) o.argv.push_back(argv[i]);
  if (o.dir.empty() || o.argv.empty() || o.argv[0].empty()) return StartFail("usage", usage, 2);

  // The supervisor leaves the starter's directory: everything absolute.
  if (o.dir[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr)
      return StartFail("dir", std::string("getcwd: ") + strerror(errno));
    o.dir = std::string(cwd) + "/" + o.dir;
  }
  if (!MkdirP(o.dir)) return StartFail("dir", "mkdir " + o.dir + ": " + strerror(errno));
  struct stat st;
  if (lstat((o.dir + "/status.json").c_str(), &st) == 0) {
    return StartFail("dir", o.dir + " already holds a session");
  }
  if (!o.cwd.empty()) {
    // Checked here too, so a mistyped directory fails clearly before
    // anything is forked.
    if (stat(o.cwd.c_str(), &st) != 0) return StartFail("cwd", "cd " + o.cwd + ": " + strerror(errno));
    if (!S_ISDIR(st.st_mode)) return StartFail("cwd", "cd " + o.cwd + ": " + strerror(ENOTDIR));
  }
  UniqueFd out_fd(open((o.dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out_fd.valid()) return StartFail("logs", "open " + o.dir + "/stdout: " + strerror(errno));
  UniqueFd err_fd(open((o.dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!err_fd.valid()) return StartFail("logs", "open " + o.dir + "/stderr: " + strerror(errno));
  if (o.stdin_fifo) {
    std::string fifo = o.dir + "/stdin";
    if (mkfifo(fifo.c_str(), 0600) != 0 &&
        !(errno == EEXIST && lstat(fifo.c_str(), &st) == 0 && S_ISFIFO(st.st_mode))) {
      return StartFail("stdin", "mkfifo " + fifo + ": " + strerror(errno));
    }
  }

  // Everything the command's child needs, built before any fork.
  std::vector<std::string> env = MergeEnv(false, o.env);
  std::vector<std::string> candidates = ExecCandidates(o.argv[0], env);
  std::vector<char*> cargv, cenvp;
  for (const auto& a : o.argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenvp.push_back(const_cast<char*>(e.c_str()));
  cenvp.push_back(nullptr);

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
    if (sup == 0) Supervise(o, rp[1], out_fd.get(), err_fd.get(), candidates, cargv.data(), cenvp.data());
    _exit(0);
  }
  close(rp[1]);
  out_fd.Reset();
  err_fd.Reset();
  while (waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
  }
  // The answer: until EOF, which comes once the supervisor wrote it (the
  // command's copy of the pipe closed on its exec).
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = read(rp[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(rp[0]);
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

// --- session-status ---

int Status(int argc, char** argv) {
  if (argc != 2) return Fail("session-status", "usage: session-status DIR", 2);
  SessionState s = ReadState(argv[1]);
  printf("%s\n", s.json.c_str());
  fflush(stdout);
  if (s.kind == SessionState::kMissingDir) {
    return Fail("session-status", std::string(argv[1]) + ": no such session directory");
  }
  return 0;
}

// --- session-logs / session-attach ---

// One log file followed by offset (the file only grows).
struct LogTail {
  std::string path;
  int out_fd;
  UniqueFd fd;
  off_t offset = 0;

  void Open() {
    if (!fd.valid()) fd.Reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  }
  void SeekToEnd() {
    Open();
    struct stat st;
    if (fd.valid() && fstat(fd.get(), &st) == 0) offset = st.st_size;
  }
  // Copies what was appended since the last call, at most kMaxPass bytes.
  // Returns the byte count, or -1 once out_fd is closed.
  long long CopyNew() {
    Open();
    if (!fd.valid()) return 0;
    static char buf[kChunk];
    long long total = 0;
    while (total < static_cast<long long>(kMaxPass)) {
      ssize_t n = pread(fd.get(), buf, sizeof(buf), offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!WriteAll(out_fd, buf, static_cast<size_t>(n))) return -1;
      offset += n;
      total += n;
    }
    return total;
  }
};

// session-attach's stdin, copied into the session's FIFO.
struct StdinForward {
  UniqueFd fifo;         // write end, non-blocking; invalid = not forwarding
  bool reading = false;  // our stdin is still open
  std::string pending;
  size_t pos = 0;

  void Stop() {
    fifo.Reset();
    reading = false;
    pending.clear();
    pos = 0;
  }
};

// Copies both logs until the session ended and both are drained (or once,
// without follow). Exits 0 quietly when our stdout is closed.
int Follow(const std::string& dir, LogTail& out, LogTail& err, bool follow, StdinForward* in) {
  for (;;) {
    // The end is checked before the copy: everything written before it is
    // then in the files.
    bool ended = ReadState(dir).kind != SessionState::kRunning;
    long long a = out.CopyNew();
    long long b = a < 0 ? -1 : err.CopyNew();
    if (a < 0 || b < 0 || !follow) return 0;
    bool copied = a + b > 0;
    if (ended && !copied) return 0;

    pollfd fds[3];
    int n = 0;
    fds[n++] = {STDOUT_FILENO, 0, 0};  // POLLERR/POLLHUP once the reader is gone
    int in_idx = -1, fifo_idx = -1;
    if (in != nullptr && in->fifo.valid()) {
      if (in->pos < in->pending.size()) {
        fifo_idx = n;
        fds[n++] = {in->fifo.get(), POLLOUT, 0};
      } else if (in->reading) {
        in_idx = n;
        fds[n++] = {STDIN_FILENO, POLLIN, 0};
      }
    }
    int r = poll(fds, n, copied ? 0 : kPollMs);
    if (r < 0 && errno != EINTR) return Fail("session-logs", std::string("poll: ") + strerror(errno));
    if (r <= 0) continue;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return 0;
    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      char buf[kChunk];
      ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
      if (got > 0) {
        in->pending.assign(buf, static_cast<size_t>(got));
        in->pos = 0;
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        in->Stop();  // our stdin ended: the command keeps its FIFO
      }
    }
    if (fifo_idx >= 0 && fds[fifo_idx].revents != 0) {
      ssize_t w = write(in->fifo.get(), in->pending.data() + in->pos, in->pending.size() - in->pos);
      if (w > 0) {
        in->pos += static_cast<size_t>(w);
        if (in->pos == in->pending.size() && !in->reading) in->Stop();
      } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
        in->Stop();  // nobody reads the FIFO any more: the session ended
      }
    }
  }
}

int Logs(int argc, char** argv) {
  if (argc < 2) return Fail("session-logs", "usage: session-logs DIR [--follow] [--from-start]", 2);
  std::string dir = argv[1];
  bool follow = false, from_start = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--follow") {
      follow = true;
    } else if (a == "--from-start") {
      from_start = true;
    } else {
      return Fail("session-logs", "usage: session-logs DIR [--follow] [--from-start]", 2);
    }
  }
  if (!IsDir(dir)) return Fail("session-logs", dir + ": no such session directory");
  signal(SIGPIPE, SIG_IGN);
  LogTail out{dir + "/stdout", STDOUT_FILENO, {}, 0}, err{dir + "/stderr", STDERR_FILENO, {}, 0};
  // Without --from-start, --follow shows only what comes next (a one-shot
  // read always shows everything).
  if (follow && !from_start) {
    out.SeekToEnd();
    err.SeekToEnd();
  }
  return Follow(dir, out, err, follow, nullptr);
}

int Attach(int argc, char** argv) {
  if (argc != 2) return Fail("session-attach", "usage: session-attach DIR", 2);
  std::string dir = argv[1];
  if (!IsDir(dir)) return Fail("session-attach", dir + ": no such session directory");
  signal(SIGPIPE, SIG_IGN);
  LogTail out{dir + "/stdout", STDOUT_FILENO, {}, 0}, err{dir + "/stderr", STDERR_FILENO, {}, 0};
  out.SeekToEnd();
  err.SeekToEnd();
  StdinForward in;
  // Only a session started with --stdin has the FIFO, and only a live one
  // has a reader (ENXIO otherwise): then our stdin is simply not read.
  in.fifo.Reset(open((dir + "/stdin").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  in.reading = in.fifo.valid();
  return Follow(dir, out, err, true, &in);
}

// --- session-stop ---

void SignalGroup(pid_t pid, int sig) {
  if (kill(-pid, sig) != 0 && errno == ESRCH) kill(pid, sig);
}

// Polls until the session is no longer running, at most `seconds`.
bool WaitEnded(const std::string& dir, double seconds) {
  auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    if (ReadState(dir).kind != SessionState::kRunning) return true;
    if (Clock::now() >= deadline) return false;
    SleepMs(20);
  }
}

int Stop(int argc, char** argv) {
  const char* usage = "usage: session-stop DIR [--timeout S]";
  if (argc != 2 && argc != 4) return Fail("session-stop", usage, 2);
  std::string dir = argv[1];
  double timeout = 10;
  if (argc == 4) {
    if (std::string(argv[2]) != "--timeout") return Fail("session-stop", usage, 2);
    char* end = nullptr;
    timeout = strtod(argv[3], &end);
    if (end == argv[3] || *end != '\0' || !std::isfinite(timeout) || timeout < 0) {
      return Fail("session-stop", std::string("bad --timeout: ") + argv[3], 2);
    }
  }
  SessionState s = ReadState(dir);
  if (s.kind == SessionState::kMissingDir) return Fail("session-stop", dir + ": no such session directory");
  if (s.kind == SessionState::kEnded) return 0;
  if (s.pid <= 0) {
    // Still starting: its pid is recorded before session-start returns.
    auto deadline = Clock::now() + std::chrono::seconds(2);
    while (s.kind == SessionState::kRunning && s.pid <= 0 && Clock::now() < deadline) {
      SleepMs(20);
      s = ReadState(dir);
    }
    if (s.kind != SessionState::kRunning) return 0;
    if (s.pid <= 0) return Fail("session-stop", dir + ": the session has no pid yet");
  }
  SignalGroup(s.pid, SIGTERM);
  if (WaitEnded(dir, timeout)) return 0;
  SignalGroup(s.pid, SIGKILL);
  if (WaitEnded(dir, kKillGraceSeconds)) return 0;
  return Fail("session-stop", dir + ": the session did not end after SIGKILL");
}

}  // namespace

int RunSessionCommand(int argc, char** argv) {
  std::string cmd = argv[0];
  if (cmd == "session-start") return Start(argc, argv);
  if (cmd == "session-status") return Status(argc, argv);
  if (cmd == "session-logs") return Logs(argc, argv);
  if (cmd == "session-attach") return Attach(argc, argv);
  if (cmd == "session-stop") return Stop(argc, argv);
  return Fail(cmd,
              "unknown subcommand (session-start, session-status, session-logs, session-attach, "
              "session-stop)",
              2);
}

}  // namespace banger::agent
