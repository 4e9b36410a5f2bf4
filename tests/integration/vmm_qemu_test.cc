// Boots the test guest (scripts/make-test-guest.sh) under QEMU microvm with
// TCG, so it runs on machines without usable KVM, and checks the launch
// failure paths leave no process or socket behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "vmm/backend.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

std::string TestGuestDir() {
  const char* env = std::getenv("BANGER_TEST_GUEST_DIR");
  return env && *env ? env : std::string(BANGER_SOURCE_DIR) + "/build/test-guest";
}

void MakeSparseFile(const std::string& path, uintmax_t bytes) {
  { std::ofstream create(path); }
  std::filesystem::resize_file(path, bytes);
}

class VmmQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: socket paths must fit in sockaddr_un.
    char tmpl[] = "/tmp/banger-vmmq-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    // A failed assertion must not leave a guest running.
    if (launched_.pid > 0) (void)backend_->Shutdown(launched_, milliseconds(0));
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<VmmBackend> MakeBackend(const std::string& qemu_bin = "qemu-system-x86_64") {
    BackendOptions opts;
    opts.qemu_bin = qemu_bin;
    opts.qemu_accel = "tcg";
    return MakeQemuBackend(opts, RealProcessOps());
  }

  LaunchSpec Spec(const std::string& guest) {
    LaunchSpec s;
    s.vm_id = "0123456789abcdef";
    s.vm_name = "vmm-qemu-test";
    s.vcpu_count = 1;
    s.memory_mib = 256;
    s.kernel_path = guest + "/vmlinuz";
    s.initrd_path = guest + "/initrd.img";
    s.kernel_cmdline = "console=ttyS0 reboot=k panic=1";
    s.vm_dir = dir_;
    s.control_sock_path = dir_ + "/qmp.sock";
    s.agent_sock_path = dir_ + "/agent.sock";
    s.console_log_path = dir_ + "/console.log";
    s.vmm_log_path = dir_ + "/qemu.log";
    return s;
  }

  // Nothing may outlive a failed launch: no process naming the socket, no socket files.
  void ExpectNothingLeft(const LaunchSpec& s) {
    EXPECT_THAT(RealProcessOps().FindByArg(s.control_sock_path), ::testing::IsEmpty());
    EXPECT_FALSE(PathExists(s.control_sock_path));
    EXPECT_FALSE(PathExists(s.agent_sock_path));
  }

  std::string dir_;
  std::unique_ptr<VmmBackend> backend_;
  VmmProcess launched_;
};

TEST_F(VmmQemuTest, BootsPausesResumesAndShutsDown) {
  const std::string guest = TestGuestDir();
  ASSERT_TRUE(IsRegularFile(guest + "/vmlinuz") && IsRegularFile(guest + "/initrd.img"))
      << "test guest missing in " << guest
      << ": run scripts/make-test-guest.sh (or point BANGER_TEST_GUEST_DIR at its output)";

  backend_ = MakeBackend();
  ASSERT_EQ(backend_->kind(), BackendKind::kQemu);
  auto available = backend_->CheckAvailable();
  ASSERT_TRUE(available.ok()) << available.error().message();

  LaunchSpec spec = Spec(guest);
  const std::string disk = dir_ + "/work.img";
  MakeSparseFile(disk, 16 << 20);
  spec.drives = {{"work", disk, false}};

  auto start = std::chrono::steady_clock::now();
  auto launched = backend_->Launch(spec, seconds(30));
  ASSERT_TRUE(launched.ok()) << launched.error().message();
  launched_ = *launched;
  auto launch_time = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(RealProcessOps().Alive(launched_.pid));
  EXPECT_EQ(launched_.control_sock_path, spec.control_sock_path);

  // TCG boots this guest in about 5 s; 90 s leaves room for a loaded machine.
  std::string console;
  auto boot_deadline = start + seconds(90);
  while (std::chrono::steady_clock::now() < boot_deadline) {
    auto text = ReadFile(spec.console_log_path);
    console = text.ok() ? *text : "";
    if (console.find("banger-test-guest: init ready") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  auto boot_time = std::chrono::steady_clock::now() - start;
  ASSERT_THAT(console, HasSubstr("Linux version"));
  ASSERT_THAT(console, HasSubstr("banger-test-guest: init ready")) << "qemu log:\n"
                                                                   << TailFile(spec.vmm_log_path, 2048);
  std::cout << "launch returned after " << std::chrono::duration_cast<milliseconds>(launch_time).count()
            << " ms; init ready after " << std::chrono::duration_cast<milliseconds>(boot_time).count()
            << " ms\n";

  auto state = backend_->QueryState(launched_);
  ASSERT_TRUE(state.ok()) << state.error().message();
  EXPECT_EQ(*state, "running");
  auto paused = backend_->Pause(launched_);
  ASSERT_TRUE(paused.ok()) << paused.error().message();
  EXPECT_EQ(*backend_->QueryState(launched_), "paused");
  auto resumed = backend_->Resume(launched_);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message();
  EXPECT_EQ(*backend_->QueryState(launched_), "running");

  auto m = backend_->Metrics(launched_, "");
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_TRUE((*m)["blockstats"].is_array()) << m->dump();
  EXPECT_FALSE((*m)["blockstats"].empty());
  EXPECT_TRUE((*m)["blockstats"][0].contains("stats")) << m->dump().substr(0, 300);

  auto stopped = backend_->Shutdown(launched_, seconds(3));
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_FALSE(RealProcessOps().Alive(launched_.pid));
  ExpectNothingLeft(spec);
  launched_ = {};

  // A second Shutdown of a gone VM is success.
  EXPECT_TRUE(backend_->Shutdown(*launched, seconds(1)).ok());
}

TEST_F(VmmQemuTest, BadKernelPathFailsAndLeavesNothing) {
  backend_ = MakeBackend();
  LaunchSpec spec = Spec(dir_);
  spec.kernel_path = dir_ + "/no-such-vmlinuz";
  spec.initrd_path.clear();
  auto launched = backend_->Launch(spec, seconds(30));
  ASSERT_FALSE(launched.ok());
  EXPECT_THAT(launched.error().message(), HasSubstr("no-such-vmlinuz"));
  ExpectNothingLeft(spec);
}

TEST_F(VmmQemuTest, MissingQemuBinaryFailsAndLeavesNothing) {
  backend_ = MakeBackend(dir_ + "/no-such-qemu");
  EXPECT_FALSE(backend_->CheckAvailable().ok());
  LaunchSpec spec = Spec(dir_);
  auto launched = backend_->Launch(spec, seconds(10));
  ASSERT_FALSE(launched.ok());
  EXPECT_THAT(launched.error().message(), HasSubstr("no-such-qemu"));
  ExpectNothingLeft(spec);
}

TEST_F(VmmQemuTest, VmmExitingAtOnceReportsWhatItPrinted) {
  const std::string fake = dir_ + "/fake-qemu";
  std::ofstream(fake) << "#!/bin/sh\necho boom >&2; exit 1\n";
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  backend_ = MakeBackend(fake);
  LaunchSpec spec = Spec(dir_);
  auto launched = backend_->Launch(spec, seconds(10));
  ASSERT_FALSE(launched.ok());
  EXPECT_THAT(launched.error().message(), HasSubstr("boom"));
  ExpectNothingLeft(spec);
}

}  // namespace
}  // namespace banger
