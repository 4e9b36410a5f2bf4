// A command's I/O and lifecycle in the agent: its stdin (written within the
// credit this agent granted), its output (read only while the host has
// granted credit and the connection's backlog is small), reaping it, and the
// EXIT that ends its channel once the output is drained.
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "agent.h"
#include "agent_internal.h"

namespace banger::agent {
namespace {

uint64_t BytesReadable(int fd) {
  int n = 0;
  if (fd < 0 || ioctl(fd, FIONREAD, &n) != 0 || n < 0) return 0;
  return static_cast<uint64_t>(n);
}

}  // namespace

void Agent::KillExec(Exec& e) {
  // The whole group, so a pipeline dies with its shell; the pid too, in case
  // it has not made its group yet.
  kill(-e.pid, SIGKILL);
  kill(e.pid, SIGKILL);
}

void Agent::WriteStdin(Conn& c, Exec& e) {
  while (!e.stdin_buf.empty() && e.stdin_fd.valid()) {
    ssize_t n = write(e.stdin_fd.get(), e.stdin_buf.data(), e.stdin_buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      // EPIPE (or EIO on a pty): the command stopped reading; what the host
      // sends from now on is discarded, but its credit still comes back.
      e.stdin_broken = true;
      e.stdin_fd.Reset();
      ConsumeStdin(c, e, e.stdin_buf.size());
      e.stdin_buf.clear();
      return;
    }
    e.stdin_buf.erase(0, n);
    ConsumeStdin(c, e, n);
  }
  MaybeCloseStdin(e);
}

void Agent::ConsumeStdin(Conn& c, Exec& e, size_t n) {
  e.stdin_unacked += n;
  // Re-grant once half the window is used, like yamux, so the host is never
  // idle waiting for credit while half a window is still buffered.
  if (e.stdin_unacked >= kDefaultGuestWindow / 2) {
    QueueControl(c, e.channel, Window{.delta = static_cast<uint32_t>(e.stdin_unacked)});
    e.stdin_credit += e.stdin_unacked;
    e.stdin_unacked = 0;
  }
}

void Agent::MaybeCloseStdin(Exec& e) {
  if (!e.stdin_eof || !e.stdin_buf.empty() || !e.stdin_fd.valid()) return;
  if (e.tty) {
    // A pty has no half-close: send the terminal's EOF character instead
    // (it ends input for a reader in canonical mode, as ^D does).
    struct termios t;
    if (tcgetattr(e.stdin_fd.get(), &t) == 0) {
      char eof = static_cast<char>(t.c_cc[VEOF]);
      ssize_t ignored = write(e.stdin_fd.get(), &eof, 1);
      (void)ignored;
    }
  }
  e.stdin_fd.Reset();
}

void Agent::ReadOutput(Conn& c, Exec& e, bool err_stream) {
  UniqueFd& fd = err_stream ? e.stderr_fd : e.stdout_fd;
  if (!fd.valid() || e.send_credit == 0 || c.Backlog() >= kBacklogLimit) return;
  size_t want = std::min<uint64_t>({e.send_credit, kMaxDataChunk, c.max_payload - 1});
  char buf[kMaxDataChunk];
  ssize_t n = read(fd.get(), buf, want);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  Stream stream = e.tty ? Stream::kPty : (err_stream ? Stream::kStderr : Stream::kStdout);
  if (n <= 0) {
    // EOF, or EIO from a pty whose last slave closed.
    fd.Reset();
    std::string frame;
    AppendMessage(&frame, e.channel, Eof{.stream = stream});
    QueueData(c, std::move(frame));
    MaybeFinish(c, e);
    return;
  }
  std::string frame;
  AppendDataFrame(&frame, e.channel, stream, std::string_view(buf, n));
  QueueData(c, std::move(frame));
  e.send_credit -= n;
  uint64_t& owed = err_stream ? e.owed_err : e.owed_out;
  owed -= std::min<uint64_t>(owed, n);
}

void Agent::ReapChildren() {
  signalfd_siginfo si;
  while (read(signal_fd_.get(), &si, sizeof(si)) == sizeof(si)) {
  }
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = pids_.find(pid);
    if (it == pids_.end()) continue;  // a command whose session already ended
    auto [conn_id, ch] = it->second;
    pids_.erase(it);
    Conn* c = FindConn(conn_id);
    Exec* e = c ? FindExec(*c, ch) : nullptr;
    if (e == nullptr) continue;
    if (e->closed_by_host) {
      c->execs.erase(ch);
      continue;
    }
    e->exited = true;
    e->status = status;
    e->drain_deadline = Clock::now() + kDrainAfterExit;
    e->owed_out = BytesReadable(e->stdout_fd.get());
    e->owed_err = BytesReadable(e->stderr_fd.get());
    MaybeFinish(*c, *e);
  }
}

void Agent::MaybeFinish(Conn& c, Exec& e) {
  if (!e.exited) return;
  bool drained = !e.stdout_fd.valid() && !e.stderr_fd.valid();
  // After the deadline, stop waiting for pipes held open by background
  // children, but never drop what the command itself wrote before exiting.
  bool given_up = Clock::now() >= e.drain_deadline && e.owed_out == 0 && e.owed_err == 0;
  if (!drained && !given_up) return;
  Exit x;
  if (WIFSIGNALED(e.status)) {
    x.signaled = true;
    x.signo = WTERMSIG(e.status);
    x.core = WCOREDUMP(e.status);
  } else {
    x.code = WEXITSTATUS(e.status);
  }
  std::string frame;
  AppendMessage(&frame, e.channel, x, kFlagFin);
  QueueData(c, std::move(frame));
  c.execs.erase(e.channel);
}

}  // namespace banger::agent
