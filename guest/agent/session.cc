// `banger-agent session-status | session-logs | session-attach | session-stop | session-kill`
// (they only read a session's files and signal its process group) and the
// dispatch of every session-* subcommand; session-start is in
// session_start.cc.
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
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
#include "session_internal.h"

namespace banger::agent {

// session_start.cc
int StartSession(int argc, char** argv);

namespace {

using namespace session;
using Clock = std::chrono::steady_clock;

// Per log and pass of a follow loop, so stdin forwarding and the end check
// keep going while a command writes faster than we copy.
constexpr size_t kMaxPass = 1024 * 1024;
constexpr int kPollMs = 100;
// After SIGKILL, how long session-stop waits for the end to be recorded.
constexpr double kKillGraceSeconds = 5;

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

// --- session-kill ---

// Sends one signal to the session's process group and returns at once (the
// containerd shim's Kill: the caller waits for the end on its own terms).
int Kill(int argc, char** argv) {
  const char* usage = "usage: session-kill DIR SIGNAL";
  if (argc != 3) return Fail("session-kill", usage, 2);
  const std::string dir = argv[1];
  char* end = nullptr;
  long sig = strtol(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || sig < 1 || sig >= NSIG) {
    return Fail("session-kill", std::string("bad signal: ") + argv[2], 2);
  }
  SessionState s = ReadState(dir);
  if (s.kind == SessionState::kMissingDir) return Fail("session-kill", dir + ": no such session directory");
  if (s.kind == SessionState::kEnded) return Fail("session-kill", dir + ": the session has ended", 3);
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (s.kind == SessionState::kRunning && s.pid <= 0 && Clock::now() < deadline) {
    SleepMs(20);
    s = ReadState(dir);
  }
  if (s.kind != SessionState::kRunning) return Fail("session-kill", dir + ": the session has ended", 3);
  if (s.pid <= 0) return Fail("session-kill", dir + ": the session has no pid yet");
  SignalGroup(s.pid, static_cast<int>(sig));
  return 0;
}

}  // namespace

int RunSessionCommand(int argc, char** argv) {
  std::string cmd = argv[0];
  if (cmd == "session-start") return StartSession(argc, argv);
  if (cmd == "session-status") return Status(argc, argv);
  if (cmd == "session-logs") return Logs(argc, argv);
  if (cmd == "session-attach") return Attach(argc, argv);
  if (cmd == "session-stop") return Stop(argc, argv);
  if (cmd == "session-kill") return Kill(argc, argv);
  return Fail(cmd,
              "unknown subcommand (session-start, session-status, session-logs, session-attach, "
              "session-stop, session-kill)",
              2);
}

}  // namespace banger::agent
