// A session directory's files (session_internal.h): small-file I/O, the flat
// JSON of status.json, the supervisor's identity, and the session's state.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "session_internal.h"

namespace banger::agent::session {

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

namespace {

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

}  // namespace

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
namespace {

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

}  // namespace

std::string SupervisorFileContent(pid_t pid) {
  return std::to_string(pid) + "\n" + BootId() + " " + StartTime(pid) + "\n";
}

namespace {

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

}  // namespace

// --- reading a session's state ---

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

int Fail(const std::string& cmd, const std::string& message, int code) {
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

}  // namespace banger::agent::session
