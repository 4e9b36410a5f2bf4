// End to end: what bangerd leaves on the host's disk and hands to its
// children (docs/security.md "Files on the host"): a private home whatever
// the umask, every fd close-on-exec, a guest console that cannot fill the disk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/unique_fd.h"
#include "e2e_util.h"

namespace banger::e2e {
namespace {

mode_t ModeOf(const std::string& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 07777;
  return st.st_mode & 07777;
}

int64_t SizeOf(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

// The daemon's fds (above stdio) that a child process would inherit, one
// "fd -> target (flags)" line each.
std::vector<std::string> InheritableFds(pid_t pid) {
  std::vector<std::string> out;
  const std::string base = "/proc/" + std::to_string(pid);
  for (const auto& e : std::filesystem::directory_iterator(base + "/fd")) {
    std::string fd = e.path().filename().string();
    if (std::stoi(fd) <= 2) continue;  // stdio goes to bangerd.out on purpose
    auto info = ReadFile(base + "/fdinfo/" + fd);
    if (!info.ok()) continue;  // closed meanwhile
    auto pos = info->find("flags:");
    if (pos == std::string::npos) continue;
    long flags = std::stol(info->substr(pos + 6), nullptr, 8);
    if ((flags & O_CLOEXEC) == 0) {
      std::error_code ec;
      out.push_back(fd + " -> " + std::filesystem::read_symlink(e.path(), ec).string() + " (flags 0" +
                    std::to_string(flags) + ")");
    }
  }
  return out;
}

// An API connection held open (a request whose headers never end), so that
// the daemon holds an accepted socket while we look.
UniqueFd HoldConnection(const std::string& sock) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  const char partial[] = "GET /v1/vms HTTP/1.1\r\nHost: x\r\n";
  if (::write(fd.get(), partial, sizeof partial - 1) < 0) return UniqueFd();
  return fd;
}

TEST(FilesE2E, TheHomeIsPrivateWhateverTheUmaskAndNoDaemonFdLeaksIntoChildren) {
  BangerHome h;
  // A home made by an older banger under umask 022: world-readable.
  mode_t old_umask = ::umask(022);
  ::chmod(h.root().c_str(), 0755);
  std::filesystem::create_directories(h.root() + "/vms/0123456789abcdef");
  ASSERT_TRUE(WriteFileAtomic(h.root() + "/bangerd.log", "an old line\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(h.root() + "/vms/0123456789abcdef/console.log", "old\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(h.root() + "/unrelated.txt", "not banger's\n", 0644).ok());
  ASSERT_NO_FATAL_FAILURE(
      h.WriteConfig("backend = \"qemu\"\nqemu_accel = \"tcg\"\nlog_level = \"debug\"\n"
                    "log_max_bytes = \"64K\"\nlog_max_files = 1\n"));
  ::chmod((h.root() + "/config.toml").c_str(), 0644);

  // The CLI starts the daemon, which inherits the umask.
  CliRun st = h.Banger({"vm", "list"});
  ASSERT_EQ(st.code, 0) << st.err;
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun created = h.Banger({"vm", "create", "--name", "idle", "--image", "base", "--no-start"});
  ASSERT_EQ(created.code, 0) << created.err;
  for (int i = 0; i < 20; ++i) h.Banger({"vm", "list"});
  ::umask(old_umask);

  EXPECT_EQ(ModeOf(h.root()), 0700);
  for (const std::string f : {"banger.db", "bangerd.log", "bangerd.lock", "bangerd.out", "config.toml"}) {
    EXPECT_EQ(ModeOf(h.root() + "/" + f), 0600) << f;
  }
  for (const std::string f : {"banger.db-wal", "banger.db-shm", "bangerd.log.1"}) {
    if (PathExists(h.root() + "/" + f)) {
      EXPECT_EQ(ModeOf(h.root() + "/" + f), 0600) << f;
    }
  }
  for (const std::string d : {"vms", "images"}) EXPECT_EQ(ModeOf(h.root() + "/" + d), 0700) << d;
  EXPECT_EQ(ModeOf(h.root() + "/unrelated.txt"), 0644) << "what is not banger's is left alone";
  EXPECT_EQ(ModeOf(h.root() + "/bangerd.sock"), 0600);
  EXPECT_LE(SizeOf(h.root() + "/bangerd.log"), 64 << 10);
  EXPECT_LE(SizeOf(h.root() + "/bangerd.log.1"), 64 << 10);
  EXPECT_FALSE(PathExists(h.root() + "/bangerd.log.2")) << "log_max_files = 1";
  Json vm = h.BangerJson({"vm", "show", "idle"});
  std::string vm_dir = vm["runtime"]["vm_dir"];
  EXPECT_EQ(ModeOf(vm_dir), 0700);
  for (const auto& e : std::filesystem::directory_iterator(vm_dir)) {
    if (!e.is_symlink()) {
      EXPECT_EQ(ModeOf(e.path().string()) & 077, 0) << e.path();
    }
  }

  pid_t pid = h.DaemonPid();
  ASSERT_GT(pid, 0);
  UniqueFd held = HoldConnection(h.root() + "/bangerd.sock");
  ASSERT_TRUE(held.valid());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto leaks = InheritableFds(pid);
  EXPECT_TRUE(leaks.empty()) << "fds without O_CLOEXEC: " << testing::PrintToString(leaks);
}

TEST(FilesE2E, AGuestFloodingItsConsoleCannotFillTheDisk) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(
      h.WriteConfig("backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\n"
                    "default_image_name = \"base\"\nconsole_log_max_bytes = \"64K\"\n"));
  ASSERT_NO_FATAL_FAILURE(h.BuildAgentImage("base"));  // exec needs the agent
  CliRun c = h.Banger({"vm", "create", "--name", "loud", "--vcpus", "1", "--memory", "512"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "loud"});
  std::string log = vm["runtime"]["log_path"];
  // 2 MiB on the serial console, 32 times the cap, while upkeep watches.
  CliRun flood = h.Banger({"vm", "exec", "loud", "--", "sh", "-c",
                           "i=0; while [ $i -lt 2048 ]; do "
                           "printf '%01023d\\n' $i > /dev/ttyS0; i=$((i+1)); done; echo done"});
  ASSERT_EQ(flood.code, 0) << flood.err;
  EXPECT_NE(flood.out.find("done"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // one more upkeep tick
  int64_t live = SizeOf(log), old = SizeOf(log + ".1");
  EXPECT_LE(live, 64 << 10);
  EXPECT_GT(old, 0) << "the console was rotated";
  // The cap plus what the guest wrote in one upkeep interval (TCG: far less
  // than 1 MiB a second), not the 2 MiB written.
  EXPECT_LT(live + old, 1 << 20) << "live " << live << ", rotated " << old;
  // `vm logs` still reads the console.
  CliRun logs = h.Banger({"vm", "logs", "loud"});
  EXPECT_EQ(logs.code, 0) << logs.err;
  EXPECT_EQ(h.Banger({"vm", "delete", "loud"}).code, 0);
}

}  // namespace
}  // namespace banger::e2e
