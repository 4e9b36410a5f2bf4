// The host client against the real static banger-agent, run on the host over
// a Unix socket (--listen-unix): no VM needed.
#include "agent/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "agent/protocol.h"
#include "base/fs.h"
#include "base/process.h"

namespace banger {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr size_t kMiB = 1024 * 1024;

struct Collected {
  std::string out, err;
  ExitStatus exit;
};

// Reads every event of a channel until the exit.
Result<Collected> Drain(ExecChannel& ch) {
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

Result<Collected> RunAll(AgentConn& conn, const ExecRequest& req) {
  BANGER_ASSIGN_OR_RETURN(auto ch, conn.Exec(req));
  return Drain(*ch);
}

// Requests built field by field (g++ 12 warns on designated initializers
// that leave members out).
ExecRequest Cmd(std::vector<std::string> argv, bool tty = false) {
  ExecRequest r;
  r.argv = std::move(argv);
  r.tty = tty;
  return r;
}
ExecRequest Sh(const std::string& script, bool tty = false) { return Cmd({"sh", "-c", script}, tty); }

// VmRSS of a process in bytes.
size_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

double MiBPerSec(size_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) / kMiB / std::chrono::duration<double>(d).count();
}

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-agent-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/agent.sock";
    agent_pid_ = fork();
    ASSERT_GE(agent_pid_, 0);
    if (agent_pid_ == 0) {
      std::string log = dir_ + "/agent.log";
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, "--listen-unix", sock_.c_str(), nullptr);
      _exit(127);
    }
  }

  void TearDown() override {
    kill(agent_pid_, SIGKILL);
    waitpid(agent_pid_, nullptr, 0);
    (void)RemoveAll(dir_);
  }

  std::unique_ptr<AgentConn> Connect() {
    auto fd = ConnectAgentUnix(sock_, 5s);
    EXPECT_TRUE(fd.ok()) << fd.error().message();
    if (!fd.ok()) return nullptr;
    auto conn = AgentConn::Handshake(std::move(*fd), 5s);
    EXPECT_TRUE(conn.ok()) << conn.error().message();
    return conn.ok() ? std::move(*conn) : nullptr;
  }

  // A raw protocol client for what AgentConn never sends.
  UniqueFd RawConnect() {
    auto fd = ConnectAgentUnix(sock_, 5s);
    EXPECT_TRUE(fd.ok());
    return fd.ok() ? std::move(*fd) : UniqueFd();
  }
  static void RawSend(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // The next frame from the agent, or nullopt after 5 s.
  static std::optional<agent::Frame> RawRead(int fd, agent::FrameDecoder& dec) {
    auto deadline = Clock::now() + 5s;
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

TEST_F(AgentClientTest, HandshakeReportsAgentInfo) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  EXPECT_EQ(conn->info().major, 1);
  EXPECT_EQ(conn->info().minor, 0);
  EXPECT_NE(conn->info().build.find("banger-agent"), std::string::npos);
  std::string boot_id = ReadFile("/proc/sys/kernel/random/boot_id").value();
  boot_id.pop_back();  // newline
  EXPECT_EQ(conn->info().boot_id, boot_id);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(conn->info().hostname, host);
  EXPECT_TRUE(conn->Ping(2s).ok());
}

TEST_F(AgentClientTest, ExitCode) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = RunAll(*conn, Sh("exit 7"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->exit.signaled);
  EXPECT_EQ(r->exit.code, 7);
  EXPECT_EQ(r->exit.ShellCode(), 7);
}

TEST_F(AgentClientTest, StdoutAndStderrStaySeparate) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = RunAll(*conn, Sh("echo out; echo err >&2"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentClientTest, MissingCommandExits127WithAMessage) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = RunAll(*conn, Cmd({"no-such-command-xyz", "arg"}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 127);
  EXPECT_EQ(r->err, "banger-agent: no-such-command-xyz: No such file or directory\n");
  EXPECT_EQ(r->out, "");
}

TEST_F(AgentClientTest, NonExecutableFileExits126) {
  std::string script = dir_ + "/not-executable";
  ASSERT_TRUE(WriteFileAtomic(script, "#!/bin/sh\necho hi\n", 0644).ok());
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = RunAll(*conn, Cmd({script}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 126);
  EXPECT_NE(r->err.find("Permission denied"), std::string::npos) << r->err;
}

TEST_F(AgentClientTest, MissingCwdFailsTheExec) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  ExecRequest req = Cmd({"true"});
  req.cwd = dir_ + "/nope";
  auto r = conn->Exec(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cwd"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().kind(), ErrorKind::kNotFound);
  // The connection is still fine afterwards.
  auto again = RunAll(*conn, Sh("exit 3"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit.code, 3);
}

TEST_F(AgentClientTest, EnvCwdAndDefaults) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  ExecRequest req = Sh("echo $FOO $HOME $PATH; pwd");
  req.env = {{"FOO", "bar"}};
  req.cwd = dir_;
  auto r = RunAll(*conn, req);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "bar /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" + dir_ + "\n");
  auto home = RunAll(*conn, Sh("pwd"));
  ASSERT_TRUE(home.ok());
  EXPECT_EQ(home->out, access("/root", X_OK) == 0 ? "/root\n" : "/\n");
  // The request's PATH is the one searched.
  ExecRequest no_path = Sh("true");
  no_path.env = {{"PATH", dir_}};
  auto path = RunAll(*conn, no_path);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->exit.code, 127);
}

TEST_F(AgentClientTest, KilledBySignal) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = RunAll(*conn, Sh("kill -9 $$"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->exit.signaled);
  EXPECT_EQ(r->exit.signo, 9);
  EXPECT_EQ(r->exit.ShellCode(), 137);
}

TEST_F(AgentClientTest, SignalGoesToTheProcessGroup) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  // The shell waits on a pipeline; TERM to the group ends all of it.
  auto ch = conn->Exec(Sh("sleep 100 | cat; echo not-reached"));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE((*ch)->Signal(SIGTERM).ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->exit.signaled);
  EXPECT_EQ(r->exit.signo, SIGTERM);
  EXPECT_EQ(r->out, "");
  // After the exit: signals are no-ops, stdin and Next are errors.
  EXPECT_TRUE((*ch)->Signal(SIGTERM).ok());
  EXPECT_FALSE((*ch)->WriteStdin("x").ok());
  EXPECT_FALSE((*ch)->Next().ok());
}

TEST_F(AgentClientTest, StdinThenEof) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({"cat"}));
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE((*ch)->WriteStdin("hello ").ok());
  ASSERT_TRUE((*ch)->WriteStdin("world").ok());
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  EXPECT_TRUE((*ch)->CloseStdin().ok());  // idempotent
  EXPECT_FALSE((*ch)->WriteStdin("late").ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "hello world");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentClientTest, Stdin64MiBIntactWithBoundedAgentMemory) {
  // Pseudo-random input; the expected hash comes from the host's sha256sum.
  std::string data(64 * kMiB, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < data.size(); i += 8) {
    uint64_t v = rng();
    memcpy(&data[i], &v, 8);
  }
  std::string file = dir_ + "/input";
  ASSERT_TRUE(WriteFileAtomic(file, data).ok());
  auto expected = RunChecked({"sha256sum", file});
  ASSERT_TRUE(expected.ok());
  std::string want = expected->out.substr(0, 64);

  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({"sha256sum"}));
  ASSERT_TRUE(ch.ok());
  auto start = Clock::now();
  // Uneven write sizes, so chunking and credit split data arbitrarily.
  size_t off = 0, step = 1;
  while (off < data.size()) {
    size_t n = std::min(data.size() - off, (step * 7919) % (300 * 1024) + 1);
    ASSERT_TRUE((*ch)->WriteStdin(std::string_view(data).substr(off, n)).ok());
    off += n;
    ++step;
  }
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  auto r = Drain(**ch);
  auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 0);
  EXPECT_EQ(r->out.substr(0, 64), want);
  size_t rss = RssBytes(agent_pid_);
  EXPECT_LT(rss, 64 * kMiB);
  printf("[ metric ] stdin throughput: %.1f MiB/s (64 MiB into sha256sum); agent VmRSS after: %.1f MiB\n",
         MiBPerSec(data.size(), elapsed), static_cast<double>(rss) / kMiB);
}

// Writes data to a command's stdin in WriteStdin calls of `chunk` bytes, then
// closes stdin and collects everything.
Result<Collected> FeedAndDrain(AgentConn& conn, const ExecRequest& req, std::string_view data, size_t chunk) {
  BANGER_ASSIGN_OR_RETURN(auto ch, conn.Exec(req));
  for (size_t off = 0; off < data.size(); off += chunk) {
    BANGER_RETURN_IF_ERROR(ch->WriteStdin(data.substr(off, chunk)));
  }
  BANGER_RETURN_IF_ERROR(ch->CloseStdin());
  return Drain(*ch);
}

std::string PseudoRandom(size_t size, uint64_t seed) {
  std::string data(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(rng());
  return data;
}

TEST_F(AgentClientTest, StdinIntactOnEveryExecOfOneConnection) {
  // What `banger vm exec -i` does: one AgentConn per VM, stdin in 32 KiB calls.
  std::string data = PseudoRandom(1288895, 7);
  std::string file = dir_ + "/input";
  ASSERT_TRUE(WriteFileAtomic(file, data).ok());
  auto expected = RunChecked({"sha256sum", file});
  ASSERT_TRUE(expected.ok());
  std::string want = expected->out.substr(0, 64);

  auto conn = Connect();
  ASSERT_TRUE(conn);
  for (int i = 0; i < 6; ++i) {
    auto wc = FeedAndDrain(*conn, Cmd({"wc", "-c"}), data, 32 * 1024);
    ASSERT_TRUE(wc.ok()) << "exec " << i << ": " << wc.error().message();
    EXPECT_EQ(wc->out, std::to_string(data.size()) + "\n") << "wc exec " << i;
    auto sum = FeedAndDrain(*conn, Cmd({"sha256sum"}), data, 32 * 1024);
    ASSERT_TRUE(sum.ok()) << "exec " << i << ": " << sum.error().message();
    EXPECT_EQ(sum->out.substr(0, 64), want) << "sha256sum exec " << i;
  }
}

// As the daemon does it: a Ping before every exec (the pool's liveness
// check), Next() on its own thread while this one writes stdin.
TEST_F(AgentClientTest, StdinIntactLikeTheDaemon) {
  std::string data = PseudoRandom(1288895, 9);
  auto conn = Connect();
  ASSERT_TRUE(conn);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(conn->Ping(2s).ok());
    auto ch = conn->Exec(Sh(i % 2 ? "wc -c" : "sleep 0.2; wc -c"));
    ASSERT_TRUE(ch.ok());
    Result<Collected> r = Error::Internal("not run");
    std::thread reader([&] { r = Drain(**ch); });
    for (size_t off = 0; off < data.size(); off += 32 * 1024) {
      ASSERT_TRUE((*ch)->WriteStdin(std::string_view(data).substr(off, 32 * 1024)).ok());
    }
    ASSERT_TRUE((*ch)->CloseStdin().ok());
    reader.join();
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->out, std::to_string(data.size()) + "\n") << "exec " << i;
  }
}

TEST_F(AgentClientTest, StdinIntactWithInterleavedExecs) {
  // Several commands at once on one connection, their stdin written in
  // 32 KiB calls that take turns, and a later round on the same connection
  // (fresh channel ids, credit state of finished channels left behind).
  auto conn = Connect();
  ASSERT_TRUE(conn);
  constexpr int kExecs = 4;
  std::vector<std::string> inputs;
  inputs.reserve(kExecs);
  for (int i = 0; i < kExecs; ++i) inputs.push_back(PseudoRandom(kMiB + 12345 * i, 100 + i));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<ExecChannel>> chans;
    std::vector<Result<Collected>> results(kExecs, Error::Internal("not run"));
    std::vector<std::thread> readers;
    readers.reserve(kExecs);
    for (int i = 0; i < kExecs; ++i) {
      auto ch = conn->Exec(Cmd({"sha256sum"}));
      ASSERT_TRUE(ch.ok()) << ch.error().message();
      chans.push_back(std::move(*ch));
    }
    for (int i = 0; i < kExecs; ++i) readers.emplace_back([&, i] { results[i] = Drain(*chans[i]); });
    for (size_t off = 0;; off += 32 * 1024) {
      bool any = false;
      for (int i = 0; i < kExecs; ++i) {
        if (off >= inputs[i].size()) continue;
        any = true;
        ASSERT_TRUE(chans[i]->WriteStdin(std::string_view(inputs[i]).substr(off, 32 * 1024)).ok());
      }
      if (!any) break;
    }
    for (auto& ch : chans) ASSERT_TRUE(ch->CloseStdin().ok());
    for (auto& t : readers) t.join();
    for (int i = 0; i < kExecs; ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].error().message();
      std::string file = dir_ + "/in" + std::to_string(i);
      ASSERT_TRUE(WriteFileAtomic(file, inputs[i]).ok());
      auto want = RunChecked({"sha256sum", file});
      ASSERT_TRUE(want.ok());
      EXPECT_EQ(results[i]->out.substr(0, 64), want->out.substr(0, 64)) << "round " << round << " exec " << i;
    }
  }
}

TEST_F(AgentClientTest, StdinThroughput) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({"wc", "-c"}));
  ASSERT_TRUE(ch.ok());
  std::string chunk(kMiB, 'x');
  auto start = Clock::now();
  for (int i = 0; i < 64; ++i) ASSERT_TRUE((*ch)->WriteStdin(chunk).ok());
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  auto r = Drain(**ch);
  auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "67108864\n");
  printf("[ metric ] stdin throughput: %.1f MiB/s (64 MiB into wc -c)\n", MiBPerSec(64 * kMiB, elapsed));
}

TEST_F(AgentClientTest, Stdout64MiBReadFully) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto start = Clock::now();
  auto ch = conn->Exec(Sh("head -c 64M /dev/zero"));
  ASSERT_TRUE(ch.ok());
  size_t total = 0;
  bool all_zero = true;
  ExitStatus exit;
  for (;;) {
    auto ev = (*ch)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) {
      exit = ev->exit;
      break;
    }
    ASSERT_EQ(ev->kind, ExecEvent::kStdout);
    total += ev->data.size();
    all_zero = all_zero && std::all_of(ev->data.begin(), ev->data.end(), [](char c) { return c == 0; });
  }
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(total, 64 * kMiB);
  EXPECT_TRUE(all_zero);
  EXPECT_EQ(exit.code, 0);
  size_t rss = RssBytes(agent_pid_);
  EXPECT_LT(rss, 64 * kMiB);
  printf("[ metric ] stdout throughput: %.1f MiB/s (64 MiB from head); agent VmRSS after: %.1f MiB\n",
         MiBPerSec(total, elapsed), static_cast<double>(rss) / kMiB);
}

TEST_F(AgentClientTest, SlowConsumerDoesNotGrowAgentMemory) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  size_t before = RssBytes(agent_pid_);
  auto ch = conn->Exec(Sh("head -c 32M /dev/zero"));
  ASSERT_TRUE(ch.ok());
  size_t total = 0, peak = 0;
  for (int i = 0;; ++i) {
    auto ev = (*ch)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) break;
    total += ev->data.size();
    if (i < 40) std::this_thread::sleep_for(25ms);  // a slow reader for the first second
    peak = std::max(peak, RssBytes(agent_pid_));
  }
  EXPECT_EQ(total, 32 * kMiB);
  // The agent holds at most a bounded backlog: far less than the output.
  EXPECT_LT(peak, before + 4 * kMiB) << "before " << before << " peak " << peak;
}

TEST_F(AgentClientTest, EightConcurrentExecsOnOneConnection) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::vector<std::string> problems(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      size_t size = (i + 1) * 512 * 1024;
      std::string tag = "done-" + std::to_string(i);
      auto ch = conn->Exec(Sh("head -c " + std::to_string(size) + " /dev/zero; echo " + tag + " >&2; exit " +
                              std::to_string(i)));
      if (!ch.ok()) {
        problems[i] = ch.error().message();
        return;
      }
      auto r = Drain(**ch);
      if (!r.ok()) {
        problems[i] = r.error().message();
      } else if (r->out.size() != size || r->err != tag + "\n" || r->exit.code != i) {
        problems[i] = "out " + std::to_string(r->out.size()) + " err '" + r->err + "' exit " +
                      std::to_string(r->exit.ShellCode());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(problems[i], "") << "exec " << i;
}

TEST_F(AgentClientTest, TtyEchoesAndReportsItsSize) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  ExecRequest sized = Cmd({"stty", "size"}, true);
  sized.rows = 33;
  sized.cols = 101;
  auto size = RunAll(*conn, sized);
  ASSERT_TRUE(size.ok()) << size.error().message();
  EXPECT_EQ(size->out, "33 101\r\n");
  EXPECT_EQ(size->err, "");

  auto defaults = RunAll(*conn, Cmd({"stty", "size"}, true));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->out, "24 80\r\n");

  auto ch = conn->Exec(Sh("read line; echo got:$line; stty size", true));
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE((*ch)->Resize(40, 120).ok());
  ASSERT_TRUE((*ch)->WriteStdin("hello\n").ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok()) << r.error().message();
  // The terminal echoes the input, then the command's own output follows.
  EXPECT_EQ(r->out, "hello\r\ngot:hello\r\n40 120\r\n");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentClientTest, TtyCloseStdinSendsEof) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({"cat"}, true));
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE((*ch)->WriteStdin("abc\n").ok());
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "abc\r\nabc\r\n");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentClientTest, BackgroundChildHoldingStdoutDoesNotHangTheExit) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto start = Clock::now();
  auto r = RunAll(*conn, Sh("sleep 5 & echo hi"));
  auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "hi\n");
  EXPECT_EQ(r->exit.code, 0);
  EXPECT_LT(elapsed, 1500ms);
  // The same with a pty held open.
  start = Clock::now();
  auto t = RunAll(*conn, Sh("sleep 5 & echo hi", true));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->out, "hi\r\n");
  EXPECT_LT(Clock::now() - start, 1500ms);
}

TEST_F(AgentClientTest, OutputWrittenBeforeExitIsNeverDropped) {
  // The command exits with output still in the pipe while the host is not
  // reading; the drain deadline must not cut that output.
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Sh("head -c 1M /dev/zero"));
  ASSERT_TRUE(ch.ok());
  std::this_thread::sleep_for(1500ms);
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), kMiB);
}

TEST_F(AgentClientTest, VersionMismatchNamesBothVersions) {
  UniqueFd fd = RawConnect();
  ASSERT_TRUE(fd.valid());
  std::string hello;
  agent::AppendMessage(&hello, 0, agent::Hello{.nonce = 77, .major = 2, .minor = 5});
  RawSend(fd.get(), hello);
  agent::FrameDecoder dec;
  auto f = RawReadUntil(fd.get(), dec, agent::MsgType::kGoAway);
  ASSERT_TRUE(f);
  auto bye = agent::Parse<agent::GoAway>(*f);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->nonce, 77u);
  EXPECT_EQ(bye->major, 1);
  EXPECT_NE(bye->reason.find("2.5"), std::string::npos) << bye->reason;
  EXPECT_NE(bye->reason.find("1.0"), std::string::npos) << bye->reason;

  // The same connection can still start over with a HELLO it understands.
  hello.clear();
  agent::AppendMessage(&hello, 0, agent::Hello{.nonce = 78});
  RawSend(fd.get(), hello);
  auto ack = RawReadUntil(fd.get(), dec, agent::MsgType::kHelloAck);
  ASSERT_TRUE(ack);
  EXPECT_EQ(agent::Parse<agent::HelloAck>(*ack)->nonce, 78u);
}

TEST(AgentHandshakeTest, HostErrorNamesBothVersions) {
  // A fake agent of a future major version answers with GOAWAY.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd host(sv[0]), guest(sv[1]);
  std::thread fake([&] {
    agent::FrameDecoder dec;
    char buf[4096];
    for (;;) {
      ssize_t n = read(guest.get(), buf, sizeof(buf));
      if (n <= 0) return;
      dec.Feed(std::string_view(buf, n));
      if (auto f = dec.Next()) {
        auto hello = agent::Parse<agent::Hello>(*f);
        std::string out = "stale bytes first";
        agent::AppendMessage(
            &out, 0, agent::GoAway{.nonce = hello->nonce, .major = 2, .minor = 1, .reason = "too old"});
        ASSERT_EQ(write(guest.get(), out.data(), out.size()), static_cast<ssize_t>(out.size()));
        return;
      }
    }
  });
  auto conn = AgentConn::Handshake(std::move(host), 5s);
  fake.join();
  ASSERT_FALSE(conn.ok());
  EXPECT_NE(conn.error().message().find("2.1"), std::string::npos) << conn.error().message();
  EXPECT_NE(conn.error().message().find("1.0"), std::string::npos) << conn.error().message();
}

TEST(AgentHandshakeTest, TimesOutWithoutAnAgent) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  auto conn = AgentConn::Handshake(UniqueFd(sv[0]), 300ms);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().kind(), ErrorKind::kTimeout);
}

// A stand-in for Firecracker's hybrid-vsock socket: the first connection is
// closed as if the guest were not listening yet, the second is accepted with
// "OK <port>\n" immediately followed by the agent's first bytes.
TEST(AgentConnectTest, VsockRetriesUntilTheGuestListensAndKeepsPayloadBytes) {
  char tmpl[] = "/tmp/banger-vsock-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, uds = dir + "/v.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, uds.c_str(), uds.size() + 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  std::string request;
  std::thread fc([&] {
    for (int attempt = 0; attempt < 2; ++attempt) {
      UniqueFd conn(accept(listener.get(), nullptr, nullptr));
      std::string line;
      char ch;
      while (read(conn.get(), &ch, 1) == 1 && ch != '\n') line.push_back(ch);
      request = line;
      if (attempt == 1) {
        std::string answer = "OK 1073741824\nMAgent bytes";
        ASSERT_EQ(write(conn.get(), answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
        std::this_thread::sleep_for(200ms);
      }
    }
  });
  auto fd = ConnectAgentVsock(uds, kAgentVsockPort, 5s);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  EXPECT_EQ(request, "CONNECT 1024");
  std::string rest(64, '\0');
  ssize_t n = read(fd->get(), rest.data(), rest.size());
  ASSERT_GT(n, 0);
  EXPECT_EQ(rest.substr(0, n), "MAgent bytes");
  fc.join();
  (void)RemoveAll(dir);
}

TEST(AgentConnectTest, TimesOutWhenNothingListens) {
  auto start = Clock::now();
  auto fd = ConnectAgentUnix("/tmp/banger-no-such-agent.sock", 300ms);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().kind(), ErrorKind::kTimeout);
  EXPECT_LT(Clock::now() - start, 2s);
  auto v = ConnectAgentVsock("/tmp/banger-no-such-agent.sock", 1024, 300ms);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind(), ErrorKind::kTimeout);
}

TEST_F(AgentClientTest, UnknownTypeGetsAnErrorNotADisconnect) {
  UniqueFd fd = RawConnect();
  ASSERT_TRUE(fd.valid());
  agent::FrameDecoder dec;
  std::string out;
  agent::AppendMessage(&out, 0, agent::Hello{.nonce = 1});
  agent::AppendFrame(&out, static_cast<agent::MsgType>(0x7E), 0, 0, "whatever");
  agent::AppendMessage(&out, 0, agent::Ping{.id = 5});
  RawSend(fd.get(), out);
  auto err = RawReadUntil(fd.get(), dec, agent::MsgType::kError);
  ASSERT_TRUE(err);
  auto e = agent::Parse<agent::ErrorMsg>(*err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(agent::ErrorCode::kUnsupported));
  auto pong = RawReadUntil(fd.get(), dec, agent::MsgType::kPong);
  ASSERT_TRUE(pong);
  EXPECT_EQ(agent::Parse<agent::Pong>(*pong)->id, 5u);
}

TEST_F(AgentClientTest, GarbageEndsTheSessionButNotTheAgent) {
  UniqueFd fd = RawConnect();
  ASSERT_TRUE(fd.valid());
  agent::FrameDecoder dec;
  std::string out;
  agent::AppendMessage(&out, 0, agent::Hello{.nonce = 1});
  RawSend(fd.get(), out);
  ASSERT_TRUE(RawReadUntil(fd.get(), dec, agent::MsgType::kHelloAck));
  // Garbage, a frame with a bad CRC, and an OPEN the agent must ignore
  // until a new HELLO.
  std::string bad;
  agent::AppendMessage(&bad, 1, agent::Window{.delta = 1});
  bad[13] ^= 1;
  out = "garbage!" + bad;
  agent::Open open;
  open.argv = {"true"};
  agent::AppendMessage(&out, 3, open);
  RawSend(fd.get(), out);
  auto bye = RawReadUntil(fd.get(), dec, agent::MsgType::kGoAway);
  ASSERT_TRUE(bye);
  out.clear();
  agent::AppendMessage(&out, 0, agent::Hello{.nonce = 2});
  agent::AppendMessage(&out, 0, agent::Ping{.id = 9});
  RawSend(fd.get(), out);
  auto ack = RawReadUntil(fd.get(), dec, agent::MsgType::kHelloAck);
  ASSERT_TRUE(ack);
  EXPECT_EQ(agent::Parse<agent::HelloAck>(*ack)->nonce, 2u);
  auto pong = RawRead(fd.get(), dec);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->type, static_cast<uint8_t>(agent::MsgType::kPong));
  // And the agent still serves the ordinary client.
  auto conn = Connect();
  ASSERT_TRUE(conn);
  EXPECT_TRUE(conn->Ping(2s).ok());
}

TEST_F(AgentClientTest, SequentialConnections) {
  for (int i = 0; i < 2; ++i) {
    auto conn = Connect();
    ASSERT_TRUE(conn);
    auto r = RunAll(*conn, Sh("echo round " + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->out, "round " + std::to_string(i) + "\n");
  }
}

TEST_F(AgentClientTest, DroppedConnectionKillsItsCommandsAndFailsCallers) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Sh("echo $$; exec sleep 100"));
  ASSERT_TRUE(ch.ok());
  auto first = (*ch)->Next();
  ASSERT_TRUE(first.ok());
  pid_t pid = std::stoi(first->data);
  EXPECT_EQ(kill(pid, 0), 0);

  // A blocked Next() wakes with the connection's loss.
  std::thread closer([&] {
    std::this_thread::sleep_for(100ms);
    conn.reset();
  });
  auto next = (*ch)->Next();
  closer.join();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("agent connection lost"), std::string::npos)
      << next.error().message();
  EXPECT_FALSE((*ch)->WriteStdin("x").ok());

  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = kill(pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone);
}

TEST_F(AgentClientTest, AgentDeathFailsBlockedCalls) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Sh("exec sleep 100"));
  ASSERT_TRUE(ch.ok());
  std::thread killer([&] {
    std::this_thread::sleep_for(100ms);
    kill(agent_pid_, SIGKILL);
  });
  auto next = (*ch)->Next();
  killer.join();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("agent connection lost"), std::string::npos);
  EXPECT_FALSE(conn->Ping(1s).ok());
  EXPECT_FALSE(conn->Exec(Sh("true")).ok());
}

TEST_F(AgentClientTest, ClosingAChannelEarlyKillsTheCommand) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Sh("echo $$; exec sleep 100"));
  ASSERT_TRUE(ch.ok());
  auto first = (*ch)->Next();
  ASSERT_TRUE(first.ok());
  pid_t pid = std::stoi(first->data);
  ch->reset();
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = kill(pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone);
  EXPECT_TRUE(conn->Ping(2s).ok());
}

TEST_F(AgentClientTest, ExecRoundTripLatency) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  std::vector<double> ms;
  for (int i = 0; i < 100; ++i) {
    auto start = Clock::now();
    auto r = RunAll(*conn, Cmd({"true"}));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->exit.code, 0);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  printf("[ metric ] exec round trip of `true`: p50 %.2f ms, p99 %.2f ms (100 runs, one connection)\n",
         ms[49], ms[98]);
  EXPECT_LT(ms[49], 100.0);
}

// --- banger-agent --connect HOST:PORT ---

// A TCP listener on 127.0.0.1 with an ephemeral port.
UniqueFd ListenTcp(uint16_t* port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (!fd.valid() || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd.get(), 4) != 0 || getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return {};
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Accepts one connection, waiting at most 5 s.
UniqueFd AcceptWithin(int listen_fd) {
  pollfd p = {listen_fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return {};
  return UniqueFd(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(n);
  }
  return true;
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, n);
  }
}

// The agent binary in --connect mode with its stdio on pipes.
struct ConnectProcess {
  pid_t pid = -1;
  UniqueFd in, out, err;  // our ends: its stdin, stdout, stderr

  static ConnectProcess Start(const std::string& address) {
    int in[2], out[2], err[2];
    ConnectProcess p;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return p;
    p.pid = fork();
    if (p.pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, "--connect", address.c_str(), nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p.in.Reset(in[1]);
    p.out.Reset(out[0]);
    p.err.Reset(err[0]);
    return p;
  }
  // Its exit code, or -1 if it did not exit normally within 10 s.
  int Wait() {
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
};

TEST(AgentConnectModeTest, CopiesBothWaysAndPassesHalfCloseOn) {
  uint16_t port = 0;
  UniqueFd listener = ListenTcp(&port);
  ASSERT_TRUE(listener.valid());
  auto proc = ConnectProcess::Start("127.0.0.1:" + std::to_string(port));
  ASSERT_GT(proc.pid, 0);
  UniqueFd sock = AcceptWithin(listener.get());
  ASSERT_TRUE(sock.valid());

  // A small exchange first: nothing waits for a full buffer.
  ASSERT_TRUE(WriteAll(proc.in.get(), "ping"));
  char buf[4];
  ASSERT_EQ(recv(sock.get(), buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  ASSERT_TRUE(WriteAll(sock.get(), "pong"));
  ASSERT_EQ(read(proc.out.get(), buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");

  // Then several MiB both ways at once (more than any buffer on the path).
  std::string up = PseudoRandom(5 * kMiB + 7, 1), down = PseudoRandom(3 * kMiB + 3, 2);
  std::thread stdin_writer([&] {
    EXPECT_TRUE(WriteAll(proc.in.get(), up));
    proc.in.Reset();  // EOF on its stdin
  });
  std::thread sock_writer([&] { EXPECT_TRUE(WriteAll(sock.get(), down)); });
  std::string got_down;
  std::thread stdout_reader([&] { got_down = ReadToEof(proc.out.get()); });
  // EOF on its stdin arrives here as the socket's EOF...
  std::string got_up = ReadToEof(sock.get());
  stdin_writer.join();
  sock_writer.join();
  EXPECT_EQ(got_up.size(), up.size());
  EXPECT_TRUE(got_up == up);
  // ...while the other direction still works.
  ASSERT_TRUE(WriteAll(sock.get(), "after half-close"));
  std::this_thread::sleep_for(50ms);
  EXPECT_NE(waitpid(proc.pid, nullptr, WNOHANG), proc.pid) << "exited with a direction still open";
  ASSERT_EQ(shutdown(sock.get(), SHUT_WR), 0);
  stdout_reader.join();  // the socket's EOF closes its stdout
  EXPECT_EQ(got_down.size(), down.size() + 16);
  EXPECT_TRUE(got_down == down + "after half-close");
  EXPECT_EQ(proc.Wait(), 0);
  EXPECT_EQ(ReadToEof(proc.err.get()), "");
}

TEST(AgentConnectModeTest, PeerClosingFirstEndsItOnceStdinCloses) {
  uint16_t port = 0;
  UniqueFd listener = ListenTcp(&port);
  ASSERT_TRUE(listener.valid());
  auto proc = ConnectProcess::Start("localhost:" + std::to_string(port));
  UniqueFd sock = AcceptWithin(listener.get());
  ASSERT_TRUE(sock.valid());
  ASSERT_TRUE(WriteAll(sock.get(), "banner\n"));
  sock.Reset();  // the server hangs up (both ways)
  EXPECT_EQ(ReadToEof(proc.out.get()), "banner\n");
  // Its stdin is still open, so one direction is: it waits.
  std::this_thread::sleep_for(50ms);
  EXPECT_NE(waitpid(proc.pid, nullptr, WNOHANG), proc.pid);
  // Input now has nowhere to go: once the socket refuses it, the process
  // ends cleanly (like netcat) rather than hanging on.
  auto old = signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < 5 && WriteAll(proc.in.get(), "late input\n"); ++i) std::this_thread::sleep_for(10ms);
  signal(SIGPIPE, old);
  EXPECT_EQ(proc.Wait(), 0);
  EXPECT_EQ(ReadToEof(proc.err.get()), "");
}

TEST(AgentConnectModeTest, StdinClosedRightAwayStillGetsTheAnswer) {
  // `echo cmd | banger-agent --connect`: the half-close reaches the server
  // first, its answer still comes back.
  uint16_t port = 0;
  UniqueFd listener = ListenTcp(&port);
  ASSERT_TRUE(listener.valid());
  auto proc = ConnectProcess::Start("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(WriteAll(proc.in.get(), "question"));
  proc.in.Reset();
  UniqueFd sock = AcceptWithin(listener.get());
  ASSERT_TRUE(sock.valid());
  EXPECT_EQ(ReadToEof(sock.get()), "question");
  ASSERT_TRUE(WriteAll(sock.get(), "answer"));
  sock.Reset();
  EXPECT_EQ(ReadToEof(proc.out.get()), "answer");
  EXPECT_EQ(proc.Wait(), 0);
}

TEST(AgentConnectModeTest, RefusedConnectionExits1WithOneLine) {
  uint16_t port = 0;
  {
    UniqueFd listener = ListenTcp(&port);  // closed again: the port refuses
    ASSERT_TRUE(listener.valid());
  }
  std::string address = "127.0.0.1:" + std::to_string(port);
  auto r = RunCommand({BANGER_AGENT_BIN, "--connect", address}, 10s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  EXPECT_NE(r->err.find(address), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("Connection refused"), std::string::npos) << r->err;

  auto bad = RunCommand({BANGER_AGENT_BIN, "--connect", "no-port"}, 10s);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_NE(bad->err.find("HOST:PORT"), std::string::npos) << bad->err;
}

// What `banger vm ssh` does: the agent runs `banger-agent --connect` as an
// exec, and the exec's stdin/stdout carry the TCP stream.
TEST_F(AgentClientTest, ConnectModeThroughAnExec) {
  uint16_t port = 0;
  UniqueFd listener = ListenTcp(&port);
  ASSERT_TRUE(listener.valid());
  std::string up = PseudoRandom(2 * kMiB + 5, 3);
  std::string received;
  // The server reads everything until the client's half-close, then answers
  // with its size and hangs up.
  std::thread server([&] {
    UniqueFd sock = AcceptWithin(listener.get());
    if (!sock.valid()) return;
    WriteAll(sock.get(), "hello\n");
    received = ReadToEof(sock.get());
    WriteAll(sock.get(), "got " + std::to_string(received.size()) + "\n");
  });
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = FeedAndDrain(*conn, Cmd({BANGER_AGENT_BIN, "--connect", "127.0.0.1:" + std::to_string(port)}), up,
                        32 * 1024);
  server.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 0) << r->err;
  EXPECT_EQ(r->out, "hello\ngot " + std::to_string(up.size()) + "\n");
  EXPECT_EQ(r->err, "");
  EXPECT_TRUE(received == up);
}

}  // namespace
}  // namespace banger

// --- banger-agent session-* DIR (docs/sessions.md) ---
//
// Driven through ordinary execs on the real agent, as the daemon does. The
// supervisors double-fork away from the agent; this process becomes a child
// subreaper for these tests so it can reap them (an init that does not reap
// orphans would otherwise collect them as zombies) and check they exit.

#include <sys/prctl.h>
#include <sys/stat.h>

#include <regex>

namespace banger {
namespace {

// A field of the agent's flat JSON answers: a string's contents (without
// unescaping) or a number's digits; "" when absent.
std::string JsonField(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|-?[0-9]+)");
  if (!std::regex_search(json, m, re)) return "";
  return m[2].matched ? m[2].str() : m[1].str();
}

class AgentSessionTest : public AgentClientTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    AgentClientTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(conn_);
  }

  void TearDown() override {
    conn_.reset();
    // Whatever a failing test left running.
    for (const auto& d : sessions_)
      (void)RunCommand({BANGER_AGENT_BIN, "session-stop", d, "--timeout", "0"}, 10s);
    AgentClientTest::TearDown();
    // The supervisors end with their commands: reap them all.
    auto deadline = Clock::now() + 5s;
    for (;;) {
      pid_t r = waitpid(-1, nullptr, WNOHANG);
      if (r < 0 && errno == ECHILD) break;
      if (r > 0) continue;
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "a session process did not end";
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
  }

  // A fresh agent on the same socket (after the old one was killed).
  void RestartAgent() {
    agent_pid_ = fork();
    ASSERT_GE(agent_pid_, 0);
    if (agent_pid_ == 0) {
      std::string log = dir_ + "/agent2.log";
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, "--listen-unix", sock_.c_str(), nullptr);
      _exit(127);
    }
  }

  std::string SessionDir(const std::string& name) {
    std::string d = dir_ + "/sessions/" + name;
    sessions_.push_back(d);
    return d;
  }

  // `banger-agent ARGS...` as an exec through the agent.
  Result<Collected> RunAgent(std::vector<std::string> args) {
    args.insert(args.begin(), BANGER_AGENT_BIN);
    return RunAll(*conn_, Cmd(std::move(args)));
  }

  std::string Status(const std::string& d) {
    auto r = RunAgent({"session-status", d});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? r->out : "";
  }

  // Polls session-status until its state is `state`; returns the last answer.
  std::string WaitForState(const std::string& d, const std::string& state, Clock::duration limit = 10s) {
    auto deadline = Clock::now() + limit;
    std::string st;
    do {
      st = Status(d);
      if (JsonField(st, "state") == state) break;
      std::this_thread::sleep_for(50ms);
    } while (Clock::now() < deadline);
    return st;
  }

  // Drain with a deadline: past it the agent is killed, which fails the
  // blocked Next() instead of hanging the test.
  Result<Collected> DrainWithin(ExecChannel& ch, Clock::duration limit = 10s) {
    std::atomic<bool> done{false};
    pid_t agent = agent_pid_;
    std::thread watchdog([&] {
      auto deadline = Clock::now() + limit;
      while (!done && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
      if (!done) kill(agent, SIGKILL);
    });
    auto r = Drain(ch);
    done = true;
    watchdog.join();
    return r;
  }

  static pid_t SupervisorPid(const std::string& d) {
    auto text = ReadFile(d + "/supervisor.pid");
    return text.ok() ? std::atoi(text->c_str()) : -1;
  }

  // Waits for our (subreaper's) child `pid` to exit; its wait status or -1.
  static int ReapWithin(pid_t pid, Clock::duration limit) {
    auto deadline = Clock::now() + limit;
    do {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) return status;
      std::this_thread::sleep_for(10ms);
    } while (Clock::now() < deadline);
    return -1;
  }

  std::unique_ptr<AgentConn> conn_;
  std::vector<std::string> sessions_;
};

TEST_F(AgentSessionTest, StartReturnsAtOnceAndRecordsTheExit) {
  std::string d = SessionDir("basic");
  auto start = Clock::now();
  auto r = RunAgent({"session-start", d, "--", "sh", "-c", "echo out; echo err >&2; sleep 1; exit 3"});
  auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 0) << r->err;
  EXPECT_LT(elapsed, 500ms);
  EXPECT_TRUE(std::regex_match(r->out, std::regex("\\{\"pid\": [0-9]+\\}\n"))) << r->out;
  EXPECT_EQ(r->err, "");
  pid_t pid = std::atoi(JsonField(r->out, "pid").c_str());
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_EQ(getpgid(pid), pid);  // its own process group

  struct stat st;
  ASSERT_EQ(stat(d.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  std::string running = Status(d);
  EXPECT_EQ(JsonField(running, "state"), "running") << running;
  EXPECT_EQ(JsonField(running, "pid"), std::to_string(pid)) << running;
  EXPECT_NE(JsonField(running, "started_at"), "") << running;

  std::string ended = WaitForState(d, "exited");
  EXPECT_EQ(JsonField(ended, "state"), "exited") << ended;
  EXPECT_EQ(JsonField(ended, "exit_code"), "3") << ended;
  EXPECT_EQ(JsonField(ended, "signal"), "") << ended;
  EXPECT_NE(JsonField(ended, "ended_at"), "") << ended;

  auto logs = RunAgent({"session-logs", d, "--from-start"});
  ASSERT_TRUE(logs.ok()) << logs.error().message();
  EXPECT_EQ(logs->out, "out\n");
  EXPECT_EQ(logs->err, "err\n");
  EXPECT_EQ(logs->exit.code, 0);

  // No zombies: the supervisor reaped the command and ends itself.
  pid_t sup = SupervisorPid(d);
  ASSERT_GT(sup, 0);
  int sup_status = ReapWithin(sup, 2s);
  ASSERT_NE(sup_status, -1) << "the supervisor did not exit";
  EXPECT_TRUE(WIFEXITED(sup_status) && WEXITSTATUS(sup_status) == 0);
  EXPECT_NE(kill(pid, 0), 0);  // already reaped
}

TEST_F(AgentSessionTest, OutlivesTheConnectionAndTheAgent) {
  std::string d = SessionDir("survivor");
  auto r = RunAgent({"session-start", d, "--", "sh", "-c", "echo before; sleep 2; echo after"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  pid_t pid = std::atoi(JsonField(r->out, "pid").c_str());

  // The connection that started it goes away...
  conn_.reset();
  conn_ = Connect();
  ASSERT_TRUE(conn_);
  EXPECT_EQ(JsonField(Status(d), "state"), "running");

  // ...and so does the agent itself.
  conn_.reset();
  kill(agent_pid_, SIGKILL);
  waitpid(agent_pid_, nullptr, 0);
  EXPECT_EQ(kill(pid, 0), 0) << "the command died with the agent";
  RestartAgent();
  conn_ = Connect();
  ASSERT_TRUE(conn_);
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "running") << st;
  EXPECT_EQ(JsonField(st, "pid"), std::to_string(pid)) << st;

  std::string ended = WaitForState(d, "exited");
  EXPECT_EQ(JsonField(ended, "exit_code"), "0") << ended;
  auto logs = RunAgent({"session-logs", d, "--from-start"});
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->out, "before\nafter\n");
}

TEST_F(AgentSessionTest, LogsFollowStreamsUntilTheEnd) {
  std::string d = SessionDir("follow");
  auto r = RunAgent({"session-start", d, "--", "sh", "-c",
                     "for i in 1 2 3 4; do echo line$i; sleep 0.3; done; echo done >&2"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-logs", d, "--from-start", "--follow"}));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  auto first = (*ch)->Next();
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto first_at = Clock::now();
  ASSERT_EQ(first->kind, ExecEvent::kStdout);
  EXPECT_EQ(first->data.substr(0, 6), "line1\n");
  auto rest = DrainWithin(**ch);
  ASSERT_TRUE(rest.ok()) << rest.error().message();
  // The first line came while the command still ran, the end with its end.
  EXPECT_GT(Clock::now() - first_at, 600ms);
  EXPECT_EQ(first->data + rest->out, "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(rest->err, "done\n");
  EXPECT_EQ(rest->exit.code, 0);
  EXPECT_EQ(JsonField(Status(d), "state"), "exited");

  // Following an ended session prints it all and ends at once.
  auto again = RunAgent({"session-logs", d, "--from-start", "--follow"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->out, "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(again->err, "done\n");
}

TEST_F(AgentSessionTest, AttachForwardsStdinAndShowsOutput) {
  std::string d = SessionDir("attach");
  auto r = RunAgent({"session-start", d, "--stdin", "--", "sh", "-c", "read x; echo got:$x"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  struct stat st;
  ASSERT_EQ(stat((d + "/stdin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-attach", d}));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  ASSERT_TRUE((*ch)->WriteStdin("hello\n").ok());
  auto out = DrainWithin(**ch);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->out, "got:hello\n");
  EXPECT_EQ(out->exit.code, 0);
  std::string ended = WaitForState(d, "exited");
  EXPECT_EQ(JsonField(ended, "exit_code"), "0") << ended;
}

TEST_F(AgentSessionTest, DetachingDoesNotCloseTheSessionsStdin) {
  std::string d = SessionDir("reattach");
  auto r = RunAgent(
      {"session-start", d, "--stdin", "--", "sh", "-c", "while read x; do echo got:$x; done; echo eof"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  for (std::string word : {"one", "two"}) {
    auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-attach", d}));
    ASSERT_TRUE(ch.ok());
    ASSERT_TRUE((*ch)->WriteStdin(word + "\n").ok());
    auto ev = (*ch)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    EXPECT_EQ(ev->data, "got:" + word + "\n");
    if (word == "two") {
      ASSERT_TRUE((*ch)->CloseStdin().ok());  // EOF of the attach, not of the session
    }
    ch->reset();  // detach
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(JsonField(Status(d), "state"), "running");
  auto stop = RunAgent({"session-stop", d});
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 0) << stop->err;
  auto logs = RunAgent({"session-logs", d, "--from-start"});
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->out, "got:one\ngot:two\n");
}

TEST_F(AgentSessionTest, AttachWithoutStdinIgnoresItsInput) {
  std::string d = SessionDir("nostdin");
  auto r = RunAgent({"session-start", d, "--", "sh", "-c", "sleep 0.5; cat; echo end"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0);
  auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-attach", d}));
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE((*ch)->WriteStdin("ignored\n").ok());
  auto out = DrainWithin(**ch);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->out, "end\n");  // cat read /dev/null
  EXPECT_EQ(out->exit.code, 0);
}

TEST_F(AgentSessionTest, StopTermsThenKillsTheProcessGroup) {
  std::string d = SessionDir("stop");
  auto r = RunAgent({"session-start", d, "--", "sleep", "1000"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  auto start = Clock::now();
  auto stop = RunAgent({"session-stop", d, "--timeout", "5"});
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 0) << stop->err;
  EXPECT_LT(Clock::now() - start, 2s);
  // The end is recorded before session-stop returns.
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "exited") << st;
  EXPECT_EQ(JsonField(st, "signal"), "15") << st;
  EXPECT_EQ(JsonField(st, "exit_code"), "143") << st;
  auto again = RunAgent({"session-stop", d});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit.code, 0);

  // A group that ignores SIGTERM gets SIGKILL after the timeout.
  std::string stubborn = SessionDir("stubborn");
  r = RunAgent({"session-start", stubborn, "--", "sh", "-c", "trap '' TERM; sleep 1000; echo not-reached"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0);
  start = Clock::now();
  stop = RunAgent({"session-stop", stubborn, "--timeout", "0.5"});
  auto took = Clock::now() - start;
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 0) << stop->err;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s);
  st = Status(stubborn);
  EXPECT_EQ(JsonField(st, "signal"), "9") << st;
  EXPECT_EQ(JsonField(st, "exit_code"), "137") << st;
}

TEST_F(AgentSessionTest, StartFailuresAnswerWithStageAndMessage) {
  std::string d = SessionDir("missing");
  auto r = RunAgent({"session-start", d, "--", "no-such-command-xyz", "arg"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 1);
  EXPECT_EQ(r->out,
            "{\"stage\": \"exec\", \"message\": \"no-such-command-xyz: No such file or directory\"}\n");
  EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "failed") << st;
  EXPECT_EQ(JsonField(st, "message"), "no-such-command-xyz: No such file or directory") << st;
  EXPECT_EQ(ReapWithin(SupervisorPid(d), 2s) != -1, true);

  auto cwd = RunAgent({"session-start", SessionDir("cwd"), "--cwd", dir_ + "/nope", "--", "true"});
  ASSERT_TRUE(cwd.ok());
  EXPECT_EQ(cwd->exit.code, 1);
  EXPECT_EQ(JsonField(cwd->out, "stage"), "cwd") << cwd->out;

  // --cwd, --env and the default environment, as for an ordinary exec.
  std::string envd = SessionDir("env");
  auto env = RunAgent({"session-start", envd, "--cwd", dir_, "--env", "FOO=bar", "--env", "HOME=/tmp", "--",
                       "sh", "-c", "echo $FOO $HOME $PATH; pwd"});
  ASSERT_TRUE(env.ok());
  ASSERT_EQ(env->exit.code, 0) << env->out << env->err;
  WaitForState(envd, "exited");
  auto logs = RunAgent({"session-logs", envd, "--from-start"});
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->out,
            "bar /tmp /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" + dir_ + "\n");

  // A directory that already holds a session is not reused.
  auto twice = RunAgent({"session-start", envd, "--", "true"});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->exit.code, 1);
}

TEST_F(AgentSessionTest, StatusOfAMissingDirAndOfADeadSupervisor) {
  auto missing = RunAgent({"session-status", dir_ + "/no-such-session"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit.code, 1);
  EXPECT_EQ(missing->out, "{\"state\":\"failed\",\"message\":\"no such session directory\"}\n");
  EXPECT_EQ(std::count(missing->err.begin(), missing->err.end(), '\n'), 1) << missing->err;
  auto logs = RunAgent({"session-logs", dir_ + "/no-such-session", "--from-start"});
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->exit.code, 1);
  auto stop = RunAgent({"session-stop", dir_ + "/no-such-session"});
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 1);

  std::string d = SessionDir("orphan");
  auto r = RunAgent({"session-start", d, "--", "sleep", "1000"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0);
  pid_t pid = std::atoi(JsonField(r->out, "pid").c_str());
  pid_t sup = SupervisorPid(d);
  ASSERT_GT(sup, 0);
  // The supervisor dies without recording anything (left unreaped, a
  // zombie, on purpose): the command still runs, so the session does.
  ASSERT_EQ(kill(sup, SIGKILL), 0);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(JsonField(Status(d), "state"), "running");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  std::this_thread::sleep_for(100ms);
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "failed") << st;
  EXPECT_EQ(JsonField(st, "message"), "the session's supervisor died") << st;
  auto stop_dead = RunAgent({"session-stop", d});
  ASSERT_TRUE(stop_dead.ok());
  EXPECT_EQ(stop_dead->exit.code, 0);
}

}  // namespace
}  // namespace banger
