// docker's CLI spellings against a real daemon and one booted guest (QEMU
// TCG): banger run/exec with -e, --env-file, -w and -u, --cpus and --memory
// sizes, ps/ls --format and -q, vm logs --tail and --since, vm ssh by id, banger version.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

constexpr const char* kTcgConfig =
    "default_image_name = \"m\"\nbackend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\n"
    "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\nwork_disk_size = \"256M\"\nsystem_overlay_size = "
    "\"1G\"\n";

TEST(CliConventionsE2E, RunExecEnvFileWorkdirUserListsLogsSshAndVersion) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.BuildAgentImage("m"));
  ASSERT_TRUE(
      WriteFileAtomic(h.root() + "/app.env", "# the app's settings\n\nFROM_FILE=file value\nOVER=file\n")
          .ok());

  // banger run = vm run: the VM stays (no --rm) for the rest of the test.
  CliRun run = h.Banger({"run", "--name", "conv", "--cpus", "1", "--memory", "384M", "--env-file",
                         h.root() + "/app.env", "-e", "OVER=flag", "-w", "/tmp", "-u", "1234:1234", "--",
                         "sh", "-c", "echo \"$FROM_FILE|$OVER|$(pwd)|$(id -u):$(id -g)\""});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "file value|flag|/tmp|1234:1234\n");

  // banger exec = vm exec, with the same flags.
  CliRun exec = h.Banger({"exec", "conv", "--env-file", h.root() + "/app.env", "-w", "/", "--", "sh", "-c",
                          "echo \"$OVER $(pwd) $(id -u)\""});
  ASSERT_EQ(exec.code, 0) << exec.err;
  EXPECT_EQ(exec.out, "file / 0\n");

  // The lists: ids in full with -q, templates with Go names, the ID column.
  Json vm = h.BangerJson({"vm", "show", "conv"});
  const std::string id = vm.value("id", "");
  ASSERT_GE(id.size(), 12U);
  CliRun q = h.Banger({"vm", "ls", "-q"});
  EXPECT_EQ(q.out, id + "\n") << q.err;
  CliRun ps = h.Banger({"ps", "--format", "{{.Name}} {{.Spec.VcpuCount}} {{.Spec.MemoryMib}} {{.State}}"});
  EXPECT_EQ(ps.out, "conv 1 384 running\n") << ps.err;
  CliRun table = h.Banger({"vm", "ps"});
  EXPECT_EQ(table.out.rfind("ID ", 0), 0U) << table.out;
  EXPECT_NE(table.out.find("\n" + id.substr(0, 12) + "   conv "), std::string::npos) << table.out;
  CliRun yaml = h.Banger({"image", "ls", "--format", "yaml"});
  EXPECT_NE(yaml.out.find("name: m\n"), std::string::npos) << yaml.out << yaml.err;

  // vm logs --tail N: the last N lines of what the console holds.
  CliRun tail = h.Banger({"vm", "logs", "conv", "--tail", "3"});
  ASSERT_EQ(tail.code, 0) << tail.err;
  CliRun full = h.Banger({"vm", "logs", "conv"});
  EXPECT_GT(std::count(full.out.begin(), full.out.end(), '\n'), 3);
  EXPECT_LE(std::count(tail.out.begin(), tail.out.end(), '\n'), 3);
  EXPECT_FALSE(tail.out.empty());
  EXPECT_NE(full.out.find(tail.out), std::string::npos) << tail.out;

  // vm logs --since: from the daemon's time index of the log (sampled about
  // every second). The boot lines are seconds old; a line the guest writes
  // after T is in `--since T`, the boot lines are not.
  EXPECT_NE(full.out.find("Linux version"), std::string::npos) << full.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // > 2 samples since the last boot output
  const auto t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  CliRun mark = h.Banger({"exec", "conv", "--", "sh", "-c", "echo SINCE-MARK >/dev/console"});
  ASSERT_EQ(mark.code, 0) << mark.err;
  std::string since_t0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       std::chrono::steady_clock::now() < deadline;) {
    since_t0 = h.Banger({"vm", "logs", "conv", "--since",
                         std::to_string(t0 / 1000) + "." + std::to_string(1000 + t0 % 1000).substr(1)})
                   .out;
    if (since_t0.find("SINCE-MARK") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(since_t0.find("SINCE-MARK"), std::string::npos) << since_t0;
  EXPECT_EQ(since_t0.find("Linux version"), std::string::npos) << since_t0;
  CliRun hour = h.Banger({"vm", "logs", "conv", "--since", "1h"});
  EXPECT_EQ(hour.code, 0) << hour.err;
  EXPECT_EQ(hour.out.rfind(full.out, 0), 0U) << "an hour ago is before the VM: the whole log";
  CliRun all = h.Banger({"vm", "logs", "conv", "--since", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out.rfind(full.out, 0), 0U) << "older than the VM: the whole log";
  EXPECT_NE(all.out.find("SINCE-MARK"), std::string::npos);
  EXPECT_EQ(h.Banger({"vm", "logs", "conv", "--since", "5 minutes"}).code, 1);

  // vm ssh takes the id like every verb (through the agent: network is off).
  CliRun ssh = h.Banger({"vm", "ssh", id.substr(0, 12), "--", "echo", "via-ssh"}, std::chrono::seconds(240));
  EXPECT_EQ(ssh.code, 0) << ssh.err;
  EXPECT_NE(ssh.out.find("via-ssh"), std::string::npos) << ssh.out << ssh.err;

  CliRun version = h.Banger({"version", "--format", "{{.Server.Api}} {{.Client.Api}}"});
  EXPECT_EQ(version.code, 0) << version.err;
  EXPECT_EQ(version.out, "1 1\n");

  EXPECT_EQ(h.Banger({"vm", "rm", id}).code, 0);
  EXPECT_EQ(h.Banger({"ps", "-q"}).out, "");
}

}  // namespace
}  // namespace banger::e2e
