// Drives a real Firecracker through the backend: configure + InstanceStart,
// pause/resume, forced shutdown, and a rejected configuration. The guest
// itself need not boot (nested KVM cannot run it on some machines): the API
// answers either way, and Shutdown must then take its forced path.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "base/fs.h"
#include "base/process.h"
#include "base/unique_fd.h"
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

// BANGER_FIRECRACKER_BIN, else `firecracker` in PATH, else "".
std::string FirecrackerBin() {
  const char* env = std::getenv("BANGER_FIRECRACKER_BIN");
  if (env && *env) return env;
  auto found = FindExecutable("firecracker");
  return found.ok() ? *found : "";
}

class VmmFirecrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-vmmf-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    if (launched_.pid > 0) (void)backend_->Shutdown(launched_, milliseconds(0));
    std::filesystem::remove_all(dir_);
  }

  // Why this machine cannot run Firecracker, or "" if it can (sets bin_).
  std::string SkipReason() {
    bin_ = FirecrackerBin();
    if (bin_.empty()) return "firecracker binary not found (set BANGER_FIRECRACKER_BIN); skipping";
    UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm.valid()) return "/dev/kvm cannot be opened read-write; skipping";
    return "";
  }

  std::unique_ptr<VmmBackend> MakeBackend(const std::string& bin) {
    BackendOptions opts;
    opts.firecracker_bin = bin;
    return MakeFirecrackerBackend(opts, RealProcessOps());
  }

  LaunchSpec Spec(const std::string& guest) {
    LaunchSpec s;
    s.vm_id = "0123456789abcdef";
    s.vm_name = "vmm-fc-test";
    s.vcpu_count = 1;
    s.memory_mib = 128;
    s.kernel_path = guest + "/vmlinux";
    s.initrd_path = guest + "/initrd.img";
    s.kernel_cmdline = "console=ttyS0 reboot=k panic=1";
    s.vm_dir = dir_;
    s.control_sock_path = dir_ + "/fc.sock";
    s.vsock_path = dir_ + "/v.sock";
    s.vsock_cid = 3;
    s.console_log_path = dir_ + "/console.log";
    s.vmm_log_path = dir_ + "/firecracker.log";
    s.metrics_path = dir_ + "/metrics.json";
    return s;
  }

  void ExpectNothingLeft(const LaunchSpec& s) {
    EXPECT_THAT(RealProcessOps().FindByArg(s.control_sock_path), ::testing::IsEmpty());
    EXPECT_FALSE(PathExists(s.control_sock_path));
    EXPECT_FALSE(PathExists(s.vsock_path));
  }

  std::string dir_;
  std::string bin_;
  std::unique_ptr<VmmBackend> backend_;
  VmmProcess launched_;
};

TEST_F(VmmFirecrackerTest, StartsPausesResumesAndIsForcedDown) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  const std::string guest = TestGuestDir();
  ASSERT_TRUE(IsRegularFile(guest + "/vmlinux") && IsRegularFile(guest + "/initrd.img"))
      << "test guest missing in " << guest
      << ": run scripts/make-test-guest.sh (or point BANGER_TEST_GUEST_DIR at its output)";

  backend_ = MakeBackend(bin_);
  ASSERT_EQ(backend_->kind(), BackendKind::kFirecracker);
  auto available = backend_->CheckAvailable();
  ASSERT_TRUE(available.ok()) << available.error().message();

  LaunchSpec spec = Spec(guest);
  const std::string disk = dir_ + "/work.img";
  { std::ofstream create(disk); }
  std::filesystem::resize_file(disk, 16 << 20);
  spec.drives = {{"work", disk, false}};

  auto start = std::chrono::steady_clock::now();
  auto launched = backend_->Launch(spec, seconds(10));
  ASSERT_TRUE(launched.ok()) << launched.error().message();
  launched_ = *launched;
  std::cout << "firecracker launch (spawn + configure + InstanceStart) took "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count()
            << " ms\n";
  EXPECT_TRUE(RealProcessOps().Alive(launched_.pid));
  EXPECT_TRUE(PathExists(spec.vsock_path));
  EXPECT_TRUE(PathExists(spec.metrics_path));

  auto state = backend_->QueryState(launched_);
  ASSERT_TRUE(state.ok()) << state.error().message();
  EXPECT_EQ(*state, "running");
  auto paused = backend_->Pause(launched_);
  ASSERT_TRUE(paused.ok()) << paused.error().message();
  EXPECT_EQ(*backend_->QueryState(launched_), "paused");
  auto resumed = backend_->Resume(launched_);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message();
  EXPECT_EQ(*backend_->QueryState(launched_), "running");

  // Metrics: a flush appends a line whose counters are FC's own.
  auto m = backend_->Metrics(launched_, spec.metrics_path);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE(m->contains("utc_timestamp_ms")) << m->dump().substr(0, 200);
  EXPECT_TRUE(m->contains("vcpu"));
  EXPECT_TRUE(m->contains("block_work")) << "per-drive metrics";
  // Emptied behind FC's back (as the size cap does), the next flush still reads.
  ASSERT_EQ(::truncate(spec.metrics_path.c_str(), 0), 0);
  auto again = backend_->Metrics(launched_, spec.metrics_path);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_GE((*again)["utc_timestamp_ms"].get<int64_t>(), (*m)["utc_timestamp_ms"].get<int64_t>());

  auto stop_start = std::chrono::steady_clock::now();
  auto stopped = backend_->Shutdown(launched_, seconds(1));
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, seconds(7));
  EXPECT_FALSE(RealProcessOps().Alive(launched_.pid));
  EXPECT_THAT(RealProcessOps().FindByArg(spec.control_sock_path), ::testing::IsEmpty());
  EXPECT_FALSE(PathExists(spec.control_sock_path));
  launched_ = {};
}

TEST_F(VmmFirecrackerTest, BadBootSourceFailsWithFaultMessageAndLeavesNothing) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  backend_ = MakeBackend(bin_);
  LaunchSpec spec = Spec(dir_);
  spec.kernel_path = dir_ + "/no-such-vmlinux";
  spec.initrd_path.clear();
  auto launched = backend_->Launch(spec, seconds(10));
  ASSERT_FALSE(launched.ok());
  EXPECT_THAT(launched.error().message(), HasSubstr("PUT /boot-source: HTTP 400: "));
  // FC's fault message names the kernel file it could not open.
  EXPECT_THAT(launched.error().message(), HasSubstr("kernel"));
  ExpectNothingLeft(spec);
}

// Needs no real Firecracker: a stand-in that dies at once.
TEST_F(VmmFirecrackerTest, VmmExitingAtOnceReportsWhatItPrinted) {
  const std::string fake = dir_ + "/fake-firecracker";
  std::ofstream(fake) << "#!/bin/sh\necho boom; exit 1\n";
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
