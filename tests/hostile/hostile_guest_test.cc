// The hostile-guest suite (docs/security.md, "The guest"): a real bangerd
// runs VMs under fake-qemu, whose scripted agent misbehaves on demand, next
// to a well-behaved VM. Whatever one guest does, the daemon keeps answering
// for the other within deadlines, its memory and log stay bounded, and
// `daemon stop` finishes within 10 s.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "hostile_util.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;
using hostile::Clock;
using hostile::MsSince;

// A generous cap: bangerd idles at a few tens of MiB; an unbounded queue
// fed by a flooding guest passes it within seconds.
constexpr long kRssCapKiB = 256 * 1024;
// What an API call on the well-behaved VM may take while another misbehaves
// (a loaded 2-core CI host; quiet it takes well under a second).
constexpr double kCallCapMs = 5000;

class HostileGuest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    home_->WriteConfig(hostile::FakeQemuConfig());
    // fake-qemu boots nothing: any files do as kernel, initrd and rootfs.
    std::string img = home_->root() + "/img";
    std::filesystem::create_directories(img);
    for (const char* f : {"vmlinuz", "initrd.img"}) std::ofstream(img + "/" + f) << "not a kernel\n";
    std::ofstream(img + "/rootfs.ext4") << "not a file system\n";
    std::filesystem::resize_file(img + "/rootfs.ext4", 1 << 20);
    CliRun r = home_->Banger({"image", "import", "base", "--kernel", img + "/vmlinuz", "--initrd",
                              img + "/initrd.img", "--rootfs", img + "/rootfs.ext4"});
    ASSERT_EQ(r.code, 0) << r.err;
    r = home_->Banger({"vm", "create", "--name", "good"});
    ASSERT_EQ(r.code, 0) << r.err;
    r = home_->Banger({"vm", "exec", "good", "--", "true"}, 60s);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  void SetUp() override {
    if (!home_ || HasFatalFailure()) GTEST_SKIP() << "setup failed";
  }

  // A new VM whose fake agent is `mode` (from its first command on).
  static void CreateHostile(const std::string& name, const std::string& mode) {
    hostile::SetMode(home_->root(), name, mode);
    CliRun r = home_->Banger({"vm", "create", "--name", name});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  // The well-behaved VM still answers, each call within kCallCapMs.
  static void ExpectGoodVmAnswers(const std::string& while_what) {
    auto t0 = Clock::now();
    CliRun show = home_->Banger({"vm", "show", "good"}, 30s);
    double show_ms = MsSince(t0);
    EXPECT_EQ(show.code, 0) << show.err;
    EXPECT_LT(show_ms, kCallCapMs) << "vm show good while " << while_what;
    t0 = Clock::now();
    CliRun list = home_->Banger({"vm", "list"}, 30s);
    EXPECT_EQ(list.code, 0) << list.err;
    EXPECT_LT(MsSince(t0), kCallCapMs) << "vm list while " << while_what;
    t0 = Clock::now();
    CliRun exec = home_->Banger({"vm", "exec", "good", "--", "echo", "hi"}, 30s);
    double exec_ms = MsSince(t0);
    EXPECT_EQ(exec.code, 0) << exec.err;
    EXPECT_EQ(exec.out, "hi\n");
    EXPECT_LT(exec_ms, kCallCapMs) << "vm exec good while " << while_what;
  }

  static void ExpectRssBounded() {
    pid_t d = home_->DaemonPid();
    ASSERT_GT(d, 0);
    long rss = hostile::RssKiB(d);
    EXPECT_GT(rss, 0);
    EXPECT_LT(rss, kRssCapKiB) << "bangerd RSS " << rss << " KiB";
  }

  // Runs `banger ARGS` in the background; returns its pid (stdout/err to /dev/null).
  static pid_t Spawn(const std::vector<std::string>& args) {
    std::vector<std::string> argv{BANGER_BIN, "--home", home_->root()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    return pid;
  }

  // Waits for a child up to `timeout`; true if it exited.
  static bool WaitChild(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  static void Reap(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }

  static BangerHome* home_;
  CliRun r_;
};
BangerHome* HostileGuest::home_ = nullptr;

// Finding 1: a guest that acknowledges an exec and never sends EXIT. The
// session checks (API and poller) are bounded and back off; listing
// sessions stays fast and the other VM keeps answering.
TEST_F(HostileGuest, NeverExitingGuestDoesNotWedgeSessions) {
  ASSERT_NO_FATAL_FAILURE(CreateHostile("hx", "normal"));
  CliRun r = home_->Banger({"session", "start", "hx", "--name", "s1", "--", "sleep", "1000"});
  ASSERT_EQ(r.code, 0) << r.err;
  hostile::SetMode(home_->root(), "hx", "noexit");
  // The first check of the session waits at most its bounded deadlines.
  auto t0 = Clock::now();
  r = home_->Banger({"session", "list"}, 60s);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_LT(MsSince(t0), 25000) << "first session list with a guest that never exits";
  // Then the guest is left alone for a while: lists answer at once.
  for (int i = 0; i < 3; ++i) {
    t0 = Clock::now();
    r = home_->Banger({"session", "list"}, 60s);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_LT(MsSince(t0), kCallCapMs) << "session list #" << i + 2;
  }
  ExpectGoodVmAnswers("a guest never exits");
  ExpectRssBounded();
}

// Finding 2: a guest that floods PINGs and stops reading. The host's reader
// never writes, so it keeps reading; the exec on that VM fails within the
// send deadline instead of hanging, and the other VM is unaffected.
TEST_F(HostileGuest, PingFloodingGuestLosesItsConnectionOnly) {
  ASSERT_NO_FATAL_FAILURE(CreateHostile("hp", "pingflood"));
  pid_t bad = Spawn({"vm", "exec", "hp", "--", "true"});
  std::this_thread::sleep_for(1s);
  ExpectGoodVmAnswers("a guest floods pings");
  ExpectRssBounded();
  EXPECT_TRUE(WaitChild(bad, 45s)) << "exec on the ping-flooding VM never returned";
  Reap(bad);
  // The VM works again once it behaves.
  hostile::SetMode(home_->root(), "hp", "normal");
  r_ = home_->Banger({"vm", "exec", "hp", "--", "true"}, 60s);
  EXPECT_EQ(r_.code, 0) << r_.err;
}

// Finding 3 and 7: ERROR and EXIT floods. The connection is dropped at the
// second EXIT; what is logged is rate-limited; memory stays bounded.
TEST_F(HostileGuest, ExitAndErrorFloodIsBoundedAndRateLimited) {
  ASSERT_NO_FATAL_FAILURE(CreateHostile("he", "exitflood"));
  std::atomic<bool> done{false};
  std::thread hammer([&] {
    while (!done) home_->Banger({"vm", "exec", "he", "--", "true"}, 60s);
  });
  std::this_thread::sleep_for(2s);
  ExpectGoodVmAnswers("a guest floods EXIT and ERROR frames");
  ExpectRssBounded();
  done = true;
  hammer.join();
  std::ifstream log(home_->root() + "/bangerd.log");
  std::string line;
  int errors = 0, dropped_reports = 0;
  while (std::getline(log, line)) {
    if (line.find("agent reported error") != std::string::npos && line.find("flood") != std::string::npos) {
      ++errors;
    }
    if (line.find("vm he: dropped") != std::string::npos) ++dropped_reports;
  }
  // 10000 ERROR frames per connection; the bucket lets 20 + 5/s through.
  EXPECT_LT(errors, 200) << "guest ERROR lines in bangerd.log (" << dropped_reports << " drop reports)";
  EXPECT_GE(errors, 1);
}

// Finding 3: max-size garbage, oversized lengths and bad CRCs cost the
// guest its connection, not the daemon anything.
TEST_F(HostileGuest, GarbageSpewingGuestLosesItsConnection) {
  ASSERT_NO_FATAL_FAILURE(CreateHostile("hg", "garbage"));
  auto t0 = Clock::now();
  CliRun r = home_->Banger({"vm", "exec", "hg", "--", "true"}, 60s);
  EXPECT_NE(r.code, 0);
  EXPECT_LT(MsSince(t0), 20000);
  EXPECT_NE(r.err.find("protocol violation"), std::string::npos) << r.err;
  ExpectGoodVmAnswers("a guest sent garbage");
  ExpectRssBounded();
}

// Finding 4: a guest-chosen signal number must not overflow 128 + signo.
TEST_F(HostileGuest, OutOfRangeExitStatusIsRejected) {
  ASSERT_NO_FATAL_FAILURE(CreateHostile("hb", "badexit"));
  CliRun r = home_->Banger({"vm", "exec", "hb", "--", "true"}, 60s);
  EXPECT_EQ(r.code, 125) << r.out << r.err;
  EXPECT_NE(r.err.find("signal number 2147483647"), std::string::npos) << r.err;
}

// Finding 5 and the deadline: a guest that grants no stdin credit holds an
// exec's stdin writer; `daemon stop` still finishes within 10 s, with that
// exec and a never-exiting one in flight.
TEST_F(HostileGuest, DaemonStopsWithinTenSecondsWhateverTheGuests) {
  ASSERT_NO_FATAL_FAILURE(CreateHostile("hn", "nocredit"));
  // 1 MiB of stdin: far beyond any window, and no window is ever granted.
  std::string input = home_->root() + "/input";
  {
    std::ofstream f(input);
    f << std::string(1 << 20, 'x');
  }
  pid_t writer = ::fork();
  if (writer == 0) {
    int in = ::open(input.c_str(), O_RDONLY);
    ::dup2(in, 0);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(BANGER_BIN, BANGER_BIN, "--home", home_->root().c_str(), "vm", "exec", "-i", "hn", "--", "cat",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  hostile::SetMode(home_->root(), "hx", "noexit");
  pid_t stuck = Spawn({"vm", "exec", "hx", "--", "true"});
  std::this_thread::sleep_for(3s);
  pid_t d = home_->DaemonPid();
  ASSERT_GT(d, 0);
  auto t0 = Clock::now();
  CliRun r = home_->Banger({"daemon", "stop"}, 30s);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(d); }, 10s));
  EXPECT_LT(MsSince(t0), 10000) << "daemon stop";
  EXPECT_TRUE(WaitChild(writer, 10s));
  EXPECT_TRUE(WaitChild(stuck, 10s));
  Reap(writer);
  Reap(stuck);
}

}  // namespace
}  // namespace banger::e2e
