#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

#include "base/fs.h"

namespace banger {
namespace {

TEST(ConfigTest, EmptyGivesSeedDefaults) {
  auto c = ParseConfig("", "config.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->bridge_name, "br-fc");
  EXPECT_EQ(c->bridge_ip, "172.16.0.1");
  EXPECT_EQ(c->cidr, "24");
  EXPECT_EQ(c->default_dns, "1.1.1.1");
  EXPECT_EQ(c->stats_poll_interval, std::chrono::seconds(10));
  EXPECT_EQ(c->vm_defaults.memory_mib, 2048);
}

TEST(ConfigTest, ParsesEveryKey) {
  auto c = ParseConfig(R"(
log_level = "debug"
web_listen_addr = "127.0.0.1:8080"
firecracker_bin = "/opt/fc/firecracker"
ssh_key_path = "/root/.ssh/id_ed25519"
auto_stop_stale_after = "30m"
stats_poll_interval = "5s"
metrics_poll_interval = "1m"
bridge_name = "br-test"
bridge_ip = "172.16.9.1"
cidr = "24"
tap_pool_size = 2
default_dns = "9.9.9.9"
default_image_name = "base"
backend = "qemu"
qemu_bin = "/usr/bin/qemu-system-x86_64"
qemu_accel = "tcg"
stop_timeout = "3s"
cow_mode = "dm-snapshot"

[[file_sync]]
host = "~/.gitconfig"
guest = ".gitconfig"
mode = "0644"

[vm_defaults]
vcpu_count = 1
memory_mib = 512
system_overlay_size = "2G"
work_disk_size = 1024
nat_enabled = true
idle_suspend = "10m"
idle_suspend_to = "disk"
ttl = "24h"
ttl_action = "delete"
)",
                       "c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->auto_stop_stale_after, std::chrono::minutes(30));
  EXPECT_EQ(c->tap_pool_size, 2);
  EXPECT_EQ(c->backend, "qemu");
  EXPECT_EQ(c->qemu_accel, "tcg");
  ASSERT_EQ(c->file_sync.size(), 1u);
  EXPECT_EQ(c->file_sync[0].mode, "0644");
  EXPECT_EQ(c->vm_defaults.system_overlay_size_bytes, 2 * kGiB);
  EXPECT_EQ(c->vm_defaults.work_disk_size_bytes, kGiB);  // plain number = MiB
  EXPECT_TRUE(c->vm_defaults.nat_enabled);
  EXPECT_EQ(c->vm_defaults.idle_suspend, std::chrono::minutes(10));
  EXPECT_EQ(c->vm_defaults.idle_suspend_to, SuspendTarget::kDisk);
  EXPECT_EQ(c->vm_defaults.ttl, std::chrono::hours(24));
  EXPECT_EQ(c->vm_defaults.ttl_action, TtlAction::kDelete);
  EXPECT_EQ(c->stop_timeout, std::chrono::seconds(3));
  EXPECT_EQ(c->cow_mode, "dm-snapshot");
}

TEST(ConfigTest, UnknownKeyIsNamed) {
  auto c = ParseConfig("bridge = \"x\"\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "c.toml: bridge: unknown key");
  auto nested = ParseConfig("[vm_defaults]\ncpus = 2\n", "c.toml");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.error().message().find("vm_defaults.cpus"), std::string::npos);
}

TEST(ConfigTest, BadValuesAreNamed) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"backend = \"xen\"", "backend"},
           {"qemu_accel = \"hvf\"", "qemu_accel"},
           {"tap_pool_size = -1", "tap_pool_size"},
           {"tap_pool_size = \"4\"", "tap_pool_size"},
           {"stats_poll_interval = \"often\"", "stats_poll_interval"},
           {"log_level = \"loud\"", "log_level"},
           {"socket_group = \"no-such-group-banger\"", "socket_group"},
           {"[vm_defaults]\nwork_disk_size = \"200G\"", "vm_defaults.work_disk_size"},
           {"[vm_defaults]\nidle_suspend = \"500ms\"", "vm_defaults.idle_suspend"},
           {"[vm_defaults]\nttl = \"soon\"", "vm_defaults.ttl"},
           {"[vm_defaults]\nttl_action = \"explode\"", "vm_defaults.ttl_action"},
           {"[vm_defaults]\nidle_suspend_to = \"swap\"", "vm_defaults.idle_suspend_to"},
       }) {
    auto c = ParseConfig(text, "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.error().message().find(key), std::string::npos) << c.error().message();
  }
}

TEST(ConfigTest, CowMode) {
  auto def = ParseConfig("", "c.toml");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->cow_mode, "overlay");
  for (const char* mode : {"overlay", "dm-snapshot"}) {
    auto c = ParseConfig(std::string("cow_mode = \"") + mode + "\"\n", "c.toml");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->cow_mode, mode);
  }
  for (const char* text : {"cow_mode = \"dm\"", "cow_mode = \"\"", "cow_mode = \"Overlay\""}) {
    auto c = ParseConfig(text, "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.error().message(), "c.toml: cow_mode: must be \"overlay\" or \"dm-snapshot\"");
  }
  auto not_string = ParseConfig("cow_mode = 1\n", "c.toml");
  ASSERT_FALSE(not_string.ok());
  EXPECT_EQ(not_string.error().message(), "c.toml: cow_mode: must be a string");
}

TEST(ConfigTest, VmCgroups) {
  auto def = ParseConfig("", "c.toml");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->vm_cgroups, "auto");
  auto off = ParseConfig("vm_cgroups = \"off\"\n", "c.toml");
  ASSERT_TRUE(off.ok()) << off.error().message();
  EXPECT_EQ(off->vm_cgroups, "off");
  auto bad = ParseConfig("vm_cgroups = \"on\"\n", "c.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "c.toml: vm_cgroups: must be \"auto\" or \"off\"");
}

TEST(ConfigTest, SyntaxErrorHasPosition) {
  auto c = ParseConfig("backend = \n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("c.toml:1"), std::string::npos) << c.error().message();
}

TEST(HomeTest, FlagThenEnv) {
  EXPECT_EQ(ResolveHome("/tmp/h1"), "/tmp/h1");
  setenv("BANGER_HOME", "/tmp/h2", 1);
  EXPECT_EQ(ResolveHome(""), "/tmp/h2");
  unsetenv("BANGER_HOME");
  HomeLayout h{"/tmp/h3"};
  EXPECT_EQ(ResolveConfigPath("", h), "/tmp/h3/config.toml");
}

TEST(HomeTest, TheSystemHomeUsesThePackagesConfigUnlessItHasItsOwn) {
  auto d = TempDir::Create("/tmp", "banger-cfg-");
  ASSERT_TRUE(d.ok());
  const std::string sys_home = d->path() + "/home", sys_config = d->path() + "/etc-bangerd.toml";
  ASSERT_TRUE(MakeDirs(sys_home, 0700).ok());
  HomeLayout h{sys_home};
  EXPECT_EQ(ResolveConfigPath("", h, sys_config, sys_home), h.DefaultConfig()) << "no package config";
  ASSERT_TRUE(WriteFileAtomic(sys_config, "socket_group = \"banger\"\n").ok());
  EXPECT_EQ(ResolveConfigPath("", h, sys_config, sys_home), sys_config);
  EXPECT_EQ(ResolveConfigPath("", HomeLayout{d->path()}, sys_config, sys_home), d->path() + "/config.toml")
      << "only the system home falls back to the package's config";
  ASSERT_TRUE(WriteFileAtomic(h.DefaultConfig(), "").ok());
  EXPECT_EQ(ResolveConfigPath("", h, sys_config, sys_home), h.DefaultConfig())
      << "the home's own config wins";
  EXPECT_EQ(ResolveConfigPath("/tmp/c.toml", h, sys_config, sys_home), "/tmp/c.toml");
}

// A user who may write the system daemon's socket (socket_group) talks to
// it; root, and anyone naming a home, keep ResolveHome's answer.
TEST(HomeTest, ClientUsesTheSystemDaemonWhenItsSocketIsTheirs) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (runs a child as nobody)";
  unsetenv("BANGER_HOME");
  auto d = TempDir::Create("/tmp", "banger-cli-home-");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(::chmod(d->path().c_str(), 0711), 0);
  const std::string sock = d->path() + "/bangerd.sock";
  ASSERT_TRUE(WriteFileAtomic(sock, "").ok());  // access() is all that is asked
  EXPECT_EQ(ResolveClientHome("", d->path()), "/var/lib/banger") << "root keeps its default";
  auto as_nobody = [&](mode_t sock_mode, const char* flag) {
    ::chmod(sock.c_str(), sock_mode);
    std::array<int, 2> p{};
    if (::pipe(p.data()) != 0) return std::string("pipe failed");
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
      std::string home = ResolveClientHome(flag, d->path());
      (void)!::write(p[1], home.data(), home.size());
      ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    std::array<char, 256> buf{};
    ssize_t n = 0;
    while ((n = ::read(p[0], buf.data(), buf.size())) > 0) out.append(buf.data(), static_cast<size_t>(n));
    ::close(p[0]);
    ::waitpid(pid, nullptr, 0);
    return out;
  };
  EXPECT_EQ(as_nobody(0666, ""), d->path());
  EXPECT_NE(as_nobody(0600, ""), d->path()) << "a socket the user may not use is not theirs";
  EXPECT_EQ(as_nobody(0666, "/tmp/own-home"), "/tmp/own-home");
}

TEST(ConfigTest, LogCapsAndEventRowsHaveBoundedDefaultsAndParse) {
  auto def = ParseConfig("", "c.toml");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->log_max_bytes, 16LL << 20);
  EXPECT_EQ(def->log_max_files, 3);
  EXPECT_EQ(def->console_log_max_bytes, 8LL << 20);
  EXPECT_EQ(def->events_max_rows, 10000);
  auto c = ParseConfig(
      "log_max_bytes = \"1M\"\nlog_max_files = 0\nconsole_log_max_bytes = \"64K\"\nevents_max_rows = 5\n",
      "c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->log_max_bytes, 1LL << 20);
  EXPECT_EQ(c->log_max_files, 0);
  EXPECT_EQ(c->console_log_max_bytes, 64LL << 10);
  EXPECT_EQ(c->events_max_rows, 5);
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"log_max_bytes = \"1K\"", "log_max_bytes"},
           {"log_max_files = 1000", "log_max_files"},
           {"console_log_max_bytes = \"big\"", "console_log_max_bytes"},
           {"console_log_max_bytes = \"4K\"", "console_log_max_bytes"},
           {"events_max_rows = 0", "events_max_rows"},
       }) {
    auto bad = ParseConfig(text, "c.toml");
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_NE(bad.error().message().find(key), std::string::npos) << bad.error().message();
  }
}

}  // namespace
}  // namespace banger

namespace banger {
namespace {

TEST(ConfigTest, HttpLimitKeys) {
  auto c = ParseConfig(
      "api_max_connections = 10\nweb_max_connections = 3\nhttp_header_timeout = \"2s\"\n"
      "http_idle_timeout = \"30s\"\nhttp_max_body_bytes = \"1M\"\nweb_session_ttl = \"1h\"\n",
      "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->api_max_connections, 10);
  EXPECT_EQ(c->web_max_connections, 3);
  EXPECT_EQ(c->http_header_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c->http_idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c->http_max_body_bytes, 1024 * 1024);
  EXPECT_EQ(c->web_session_ttl, std::chrono::hours(1));
  auto d = ParseConfig("", "t.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->api_max_connections, 256);
  EXPECT_EQ(d->web_max_connections, 32);
  for (const char* bad : {"api_max_connections = 0\n", "http_header_timeout = \"0s\"\n",
                          "http_max_body_bytes = \"1K\"\n", "web_session_ttl = \"0s\"\n"}) {
    auto r = ParseConfig(bad, "t.toml");
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(ConfigTest, VmmUserResolvesOnlyForARootDaemon) {
  auto c = ParseConfig("", "t");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->vmm_user, "banger-vmm");
  // Not root: VMMs run as the daemon's own user.
  auto as_user = ResolveVmmUser(*c, 1000);
  ASSERT_TRUE(as_user.ok());
  EXPECT_FALSE(as_user->has_value());
  // root: the explicit opt-out.
  auto root = ParseConfig("vmm_user = \"root\"\n", "t");
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(ResolveVmmUser(*root, 0)->has_value());
  // A user that exists.
  auto nobody = ParseConfig("vmm_user = \"nobody\"\n", "t");
  ASSERT_TRUE(nobody.ok());
  auto n = ResolveVmmUser(*nobody, 0);
  ASSERT_TRUE(n.ok() && n->has_value());
  EXPECT_EQ((*n)->uid, 65534u);
  // A missing one is one line naming the fix.
  auto missing = ParseConfig("vmm_user = \"no-such-user-xyz\"\n", "t");
  ASSERT_TRUE(missing.ok());
  auto m = ResolveVmmUser(*missing, 0);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(m.error().message().find("install-deps.sh"), std::string::npos);
  EXPECT_EQ(m.error().message().find('\n'), std::string::npos);
  EXPECT_FALSE(ParseConfig("vmm_user = \"a,b\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig("vmm_user = \"\"\n", "t").ok());
}

TEST(ConfigTest, JailerBinIsOffByDefault) {
  auto c = ParseConfig("", "t");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->jailer_bin, "");
  auto j = ParseConfig("jailer_bin = \"/usr/local/bin/jailer\"\n", "t");
  ASSERT_TRUE(j.ok()) << j.error().message();
  EXPECT_EQ(j->jailer_bin, "/usr/local/bin/jailer");
  EXPECT_FALSE(ParseConfig("jailer_bin = 3\n", "t").ok());
}

}  // namespace
}  // namespace banger
