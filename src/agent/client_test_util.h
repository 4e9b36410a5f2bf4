// Shared by the agent client tests (client_*_test.cc): a fixture that runs
// the real static banger-agent on the host over a Unix socket (--listen-unix,
// no VM needed), raw protocol helpers for what AgentConn never sends, and
// small helpers to run commands and wait for a condition with a deadline.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/client.h"
#include "agent/protocol.h"
#include "base/fs.h"

namespace banger::agent_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr size_t kMiB = 1024 * 1024;

struct Collected {
  std::string out, err;
  ExitStatus exit;
};

// Reads every event of a channel until the exit.
inline Result<Collected> Drain(ExecChannel& ch) {
  Collected c;
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ExecEvent ev, ch.Next());
    if (ev.kind == ExecEvent::kExit) {
      c.exit = ev.exit;
      return c;
    }
    (ev.kind == ExecEvent::kStdout ? c.out : c.err) += ev.data;
  }
}

inline Result<Collected> RunAll(AgentConn& conn, const ExecRequest& req) {
  BANGER_ASSIGN_OR_RETURN(auto ch, conn.Exec(req));
  return Drain(*ch);
}

// Requests built field by field (g++ 12 warns on designated initializers
// that leave members out).
inline ExecRequest Cmd(std::vector<std::string> argv, bool tty = false) {
  ExecRequest r;
  r.argv = std::move(argv);
  r.tty = tty;
  return r;
}
inline ExecRequest Sh(const std::string& script, bool tty = false) { return Cmd({"sh", "-c", script}, tty); }

// VmRSS of a process in bytes.
inline size_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

inline double MiBPerSec(size_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) / kMiB / std::chrono::duration<double>(d).count();
}

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-agent-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/agent.sock";
    StartAgent("agent.log");
  }

  // The agent on sock_, its stderr into dir_/log_name.
  void StartAgent(const std::string& log_name) {
    agent_pid_ = fork();
    ASSERT_GE(agent_pid_, 0);
    if (agent_pid_ == 0) {
      std::string log = dir_ + "/" + log_name;
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, "--listen-unix", sock_.c_str(), nullptr);
      _exit(127);
    }
  }

  void TearDown() override {
    if (agent_pid_ > 0) {  // never kill(-1): that is every process we may signal
      kill(agent_pid_, SIGKILL);
      waitpid(agent_pid_, nullptr, 0);
    }
    (void)RemoveAll(dir_);
  }

  std::unique_ptr<AgentConn> Connect() {
    auto fd = ConnectAgentUnix(sock_, 20s);
    EXPECT_TRUE(fd.ok()) << fd.error().message();
    if (!fd.ok()) return nullptr;
    auto conn = AgentConn::Handshake(std::move(*fd), 20s);
    EXPECT_TRUE(conn.ok()) << conn.error().message();
    return conn.ok() ? std::move(*conn) : nullptr;
  }

  // A raw protocol client for what AgentConn never sends.
  UniqueFd RawConnect() {
    auto fd = ConnectAgentUnix(sock_, 20s);
    EXPECT_TRUE(fd.ok());
    return fd.ok() ? std::move(*fd) : UniqueFd();
  }
  // The HELLO that opens a raw session, as bytes to send.
  static std::string RawHello() {
    std::string out;
    agent::AppendMessage(&out, 0, agent::Hello{.nonce = 1});
    return out;
  }
  static void RawSend(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // The next frame from the agent, or nullopt after 20 s (a hang guard).
  static std::optional<agent::Frame> RawRead(int fd, agent::FrameDecoder& dec) {
    auto deadline = Clock::now() + 20s;
    for (;;) {
      if (auto f = dec.Next()) return f;
      pollfd p = {fd, POLLIN, 0};
      if (Clock::now() >= deadline || ::poll(&p, 1, 100) < 0) return std::nullopt;
      if (!(p.revents & POLLIN)) continue;
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) return std::nullopt;
      dec.Feed(std::string_view(buf, n));
    }
  }
  // Frames from the agent until one of type t.
  static std::optional<agent::Frame> RawReadUntil(int fd, agent::FrameDecoder& dec, agent::MsgType t) {
    while (auto f = RawRead(fd, dec)) {
      if (f->type == static_cast<uint8_t>(t)) return f;
    }
    return std::nullopt;
  }

  std::string dir_, sock_;
  pid_t agent_pid_ = -1;
};

// Writes data to a command's stdin in WriteStdin calls of `chunk` bytes, then
// closes stdin and collects everything.
inline Result<Collected> FeedAndDrain(AgentConn& conn, const ExecRequest& req, std::string_view data,
                                      size_t chunk) {
  BANGER_ASSIGN_OR_RETURN(auto ch, conn.Exec(req));
  for (size_t off = 0; off < data.size(); off += chunk) {
    BANGER_RETURN_IF_ERROR(ch->WriteStdin(data.substr(off, chunk)));
  }
  BANGER_RETURN_IF_ERROR(ch->CloseStdin());
  return Drain(*ch);
}

inline std::string PseudoRandom(size_t size, uint64_t seed) {
  std::string data(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(rng());
  return data;
}

// Polls cond every 10 ms until it holds; false if it still does not after
// `limit` (a hang guard, generous so a loaded machine never trips it).
inline bool Eventually(const std::function<bool()>& cond, Clock::duration limit = 20s) {
  auto deadline = Clock::now() + limit;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// True once pid no longer runs: gone, or a zombie nobody reaped yet.
inline bool ProcessEnded(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

}  // namespace banger::agent_test
