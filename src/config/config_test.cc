#include "config/config.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace banger
