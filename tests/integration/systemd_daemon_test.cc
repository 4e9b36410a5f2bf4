// bangerd under systemd, without systemd: the test plays the service
// manager. Readiness (Type=notify): a datagram socket of the test's own as
// NOTIFY_SOCKET gets READY=1 from the daemon's pid once its API answers,
// and STOPPING=1 on stop. Socket activation (bangerd.socket): a listening
// socket passed as systemd passes it (fd 3, LISTEN_FDS, LISTEN_PID of the
// exec'd process, LISTEN_FDNAMES) is served, kept (not unlinked, not shut
// down) across a daemon's stop, and serves a connection made while no
// daemon ran once the next one starts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "http/http.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

UniqueFd BoundUnix(int type, const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return UniqueFd();
  return fd;
}

// bangerd --home `home`, with `env` added to an empty environment; with
// `listen_fd`, that socket becomes fd 3 and LISTEN_PID the child's pid, as
// systemd's socket activation does.
pid_t StartDaemon(const std::string& home, const std::vector<std::string>& env, int listen_fd = -1,
                  const std::string& log = "") {
  std::vector<std::string> envs = env;
  envs.emplace_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  if (listen_fd >= 0) {
    envs.emplace_back("LISTEN_FDS=1");
    envs.emplace_back("LISTEN_FDNAMES=bangerd.socket");
    envs.emplace_back("LISTEN_PID=" + std::string(20, ' '));  // the child writes its pid in place
  }
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string bin = BANGERD_BIN, home_flag = "--home", home_arg = home;
  std::array<char*, 4> argv{bin.data(), home_flag.data(), home_arg.data(), nullptr};
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child: no allocation from here on (the test may have threads).
  if (listen_fd >= 0) {
    if (listen_fd == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(listen_fd, 3);  // dup2 clears FD_CLOEXEC on fd 3
    }
    std::array<char, 20> digits{};
    size_t nd = 0;
    for (auto v = static_cast<unsigned>(::getpid()); v != 0 || nd == 0; v /= 10)
      digits[nd++] = static_cast<char>('0' + v % 10);
    char* out = envp[envs.size() - 1] + std::strlen("LISTEN_PID=");
    while (nd > 0) *out++ = digits[--nd];
    *out = '\0';
  }
  if (!log.empty()) {
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
  }
  ::execve(bin.c_str(), argv.data(), envp.data());
  ::_exit(127);
}

std::optional<int> WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

// Kills and reaps a daemon a failed assertion left behind.
struct DaemonGuard {
  pid_t pid = -1;
  ~DaemonGuard() {
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
};

bool Pings(const std::string& socket) {
  HttpRequest req;
  req.method = "GET";
  req.target = "/v1/ping";
  auto r = UnixHttpCall(socket, req, 2s);
  return r.ok() && r->status == 200;
}

// One notification datagram and its sender's pid, within `timeout`.
struct Notification {
  std::string text;
  pid_t pid = 0;
};
std::optional<Notification> ReceiveNotification(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  std::array<char, 4096> buf{};
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = ::recvmsg(fd, &msg, 0);
  if (n < 0) return std::nullopt;
  Notification out{std::string(buf.data(), static_cast<size_t>(n)), 0};
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.pid = cred.pid;
    }
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : "";
}

class SystemdDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("/tmp", "banger-sd-");
    ASSERT_TRUE(d.ok()) << d.error().message();
    dir_.emplace(std::move(*d));
    home_ = dir_->path() + "/home";
    socket_ = home_ + "/bangerd.sock";
    log_ = dir_->path() + "/bangerd.out";
  }
  std::optional<TempDir> dir_;
  std::string home_, socket_, log_;
};

TEST_F(SystemdDaemonTest, NotifiesReadyOnceServingAndStoppingOnStop) {
  std::string notify_path = dir_->path() + "/notify.sock";
  UniqueFd notify = BoundUnix(SOCK_DGRAM, notify_path);
  ASSERT_TRUE(notify.valid()) << std::strerror(errno);
  int one = 1;
  ASSERT_EQ(::setsockopt(notify.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);

  DaemonGuard daemon{StartDaemon(home_, {"NOTIFY_SOCKET=" + notify_path}, -1, log_)};
  ASSERT_GT(daemon.pid, 0);
  auto ready = ReceiveNotification(notify.get(), 60s);
  ASSERT_TRUE(ready.has_value()) << "no notification within 60 s; daemon said: " << ReadAll(log_);
  EXPECT_NE(ready->text.find("READY=1"), std::string::npos) << ready->text;
  EXPECT_EQ(ready->pid, daemon.pid) << "READY=1 must come from the main process";
  // Ready means ready: the API answers at once, no retry.
  EXPECT_TRUE(Pings(socket_)) << "READY=1 arrived before the API answered";

  ASSERT_EQ(::kill(daemon.pid, SIGTERM), 0);
  auto stopping = ReceiveNotification(notify.get(), 30s);
  ASSERT_TRUE(stopping.has_value()) << "no STOPPING=1 within 30 s";
  EXPECT_NE(stopping->text.find("STOPPING=1"), std::string::npos) << stopping->text;
  auto code = WaitExit(daemon.pid, 30s);
  ASSERT_TRUE(code.has_value()) << "daemon still running 30 s after SIGTERM";
  daemon.pid = -1;
  EXPECT_EQ(*code, 0) << ReadAll(log_);
}

TEST_F(SystemdDaemonTest, ServesOnThePassedSocketAndLeavesItToTheManager) {
  ASSERT_EQ(::mkdir(home_.c_str(), 0700), 0);
  UniqueFd listener = BoundUnix(SOCK_STREAM, socket_);
  ASSERT_TRUE(listener.valid()) << std::strerror(errno);
  ASSERT_EQ(::listen(listener.get(), 16), 0);
  struct stat before {};
  ASSERT_EQ(::stat(socket_.c_str(), &before), 0);

  DaemonGuard first{StartDaemon(home_, {}, listener.get(), log_)};
  ASSERT_GT(first.pid, 0);
  bool served = false;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       !served && std::chrono::steady_clock::now() < deadline;) {
    served = Pings(socket_);
    if (!served && ::waitpid(first.pid, nullptr, WNOHANG) == first.pid) {
      first.pid = -1;
      break;
    }
    if (!served) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(served) << "daemon did not serve on the passed socket; it said: " << ReadAll(log_);
  struct stat during {};
  ASSERT_EQ(::stat(socket_.c_str(), &during), 0);
  EXPECT_EQ(during.st_ino, before.st_ino) << "the daemon bound a socket of its own over the passed one";
  EXPECT_EQ(during.st_mode & 0777, 0600u) << "config decides the mode (no socket_group: 0600)";

  ASSERT_EQ(::kill(first.pid, SIGTERM), 0);
  auto code = WaitExit(first.pid, 30s);
  ASSERT_TRUE(code.has_value());
  first.pid = -1;
  EXPECT_EQ(*code, 0) << ReadAll(log_);
  struct stat after {};
  ASSERT_EQ(::stat(socket_.c_str(), &after), 0) << "the daemon unlinked the manager's socket";
  EXPECT_EQ(after.st_ino, before.st_ino);

  // A client arriving while no daemon runs waits in the backlog and is
  // served by the next activation.
  std::optional<bool> late_answer;
  std::thread client([&] { late_answer = Pings(socket_); });
  std::this_thread::sleep_for(200ms);
  DaemonGuard second{StartDaemon(home_, {}, listener.get(), log_)};
  client.join();
  ASSERT_TRUE(late_answer.has_value());
  EXPECT_TRUE(*late_answer) << "the connection queued between daemons was not served: " << ReadAll(log_);
  ASSERT_EQ(::kill(second.pid, SIGTERM), 0);
  auto code2 = WaitExit(second.pid, 30s);
  ASSERT_TRUE(code2.has_value());
  second.pid = -1;
  EXPECT_EQ(*code2, 0);
}

TEST_F(SystemdDaemonTest, RefusesAPassedSocketThatIsNotTheHomes) {
  ASSERT_EQ(::mkdir(home_.c_str(), 0700), 0);
  UniqueFd elsewhere = BoundUnix(SOCK_STREAM, dir_->path() + "/other.sock");
  ASSERT_TRUE(elsewhere.valid());
  ASSERT_EQ(::listen(elsewhere.get(), 4), 0);
  DaemonGuard daemon{StartDaemon(home_, {}, elsewhere.get(), log_)};
  auto code = WaitExit(daemon.pid, 60s);
  ASSERT_TRUE(code.has_value()) << "daemon kept running on a socket no client looks at";
  daemon.pid = -1;
  EXPECT_EQ(*code, 1);
  EXPECT_NE(ReadAll(log_).find("is not a listening Unix stream socket at " + socket_), std::string::npos)
      << ReadAll(log_);
}

}  // namespace
}  // namespace banger
