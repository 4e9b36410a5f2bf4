// VmCgroups on this host's real cgroup filesystem: a group with memory and
// pids limits, a process put in it by SpawnDetached before exec, removal.
// Skips (saying why) where cgroups are not writable, e.g. in a container.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "vmm/cgroup.h"

namespace banger {
namespace {

using ::testing::HasSubstr;

class RealCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cg_ = std::make_unique<VmCgroups>(DetectCgroupHost());
    if (!cg_->enabled()) GTEST_SKIP() << "no usable cgroups here: " << cg_->host().why_none;
    if (auto st = cg_->Probe(); !st.ok())
      GTEST_SKIP() << "cgroups not writable here: " << st.error().message();
    name_ = "test-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (pid_ > 0) RealProcessOps().Signal(pid_, SIGKILL).ok();
    if (cg_ && cg_->enabled() && !name_.empty()) WaitRemoved().ok();
  }
  Status WaitRemoved() {
    // A SIGKILLed process leaves its group a moment after the signal.
    Status st = cg_->Remove(name_);
    for (int i = 0; i < 100 && !st.ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      st = cg_->Remove(name_);
    }
    return st;
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  std::unique_ptr<VmCgroups> cg_;
  std::string name_;
  pid_t pid_ = 0;
};

TEST_F(RealCgroupTest, ChildRunsInsideTheGroupWithItsLimits) {
  const int64_t mem = 300LL * 1024 * 1024;
  auto procs = cg_->Create(name_, {mem, 64});
  ASSERT_TRUE(procs.ok()) << procs.error().message();

  SpawnOptions so;
  so.argv = {"sleep", "60"};
  so.cgroup_procs_files = *procs;
  auto pid = SpawnDetached(so);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  pid_ = *pid;

  auto self = ReadFile("/proc/" + std::to_string(pid_) + "/cgroup");
  ASSERT_TRUE(self.ok()) << self.error().message();
  // Every hierarchy with a limit shows the group.
  EXPECT_THAT(*self, HasSubstr("/banger/" + name_ + "\n"));
  auto dirs = cg_->GroupDirs(name_);
  if (cg_->host().version == CgroupVersion::kV2) {
    EXPECT_EQ(Trim(*ReadFile(dirs[0] + "/memory.max")), std::to_string(mem));
    EXPECT_EQ(Trim(*ReadFile(dirs[0] + "/pids.max")), "64");
  } else {
    EXPECT_THAT(*self, HasSubstr("memory:"));
    for (const char* ctl : {"memory", "pids"}) {
      bool found = false;
      std::istringstream lines(*self);
      for (std::string line; std::getline(lines, line);) {
        if (line.find(std::string(":") + ctl) != std::string::npos &&
            line.find("/banger/" + name_) != std::string::npos) {
          found = true;
        }
      }
      EXPECT_TRUE(found) << ctl << " hierarchy does not hold pid " << pid_ << ":\n" << *self;
    }
    EXPECT_EQ(Trim(*ReadFile(dirs[0] + "/memory.limit_in_bytes")), std::to_string(mem));
    EXPECT_EQ(Trim(*ReadFile(dirs[1] + "/pids.max")), "64");
  }
  for (const auto& f : *procs) EXPECT_THAT(*ReadFile(f), HasSubstr(std::to_string(pid_)));

  // Busy while the process lives.
  auto busy = cg_->Remove(name_);
  ASSERT_FALSE(busy.ok());
  EXPECT_THAT(busy.error().message(), HasSubstr(std::to_string(pid_)));

  ASSERT_TRUE(RealProcessOps().Signal(pid_, SIGKILL).ok());
  Status removed = WaitRemoved();
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  for (const auto& d : dirs) EXPECT_FALSE(PathExists(d)) << d;
  pid_ = 0;
}

TEST_F(RealCgroupTest, PidsLimitStopsForksInTheGroup) {
  auto procs = cg_->Create(name_, {0, 2});
  ASSERT_TRUE(procs.ok()) << procs.error().message();
  SpawnOptions so;
  // The shell is one task; two more background sleeps exceed pids.max = 2.
  std::string out = "/tmp/banger-cg-" + name_ + ".out";
  so.argv = {"/bin/sh", "-c", "sleep 30 & sleep 30 & wait"};
  so.stdout_path = out;
  so.cgroup_procs_files = *procs;
  auto pid = SpawnDetached(so);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  pid_ = *pid;
  std::string text;
  for (int i = 0; i < 100; ++i) {
    auto r = ReadFile(out);
    text = r.ok() ? *r : "";
    if (!text.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  RemoveFile(out).ok();
  EXPECT_THAT(text, testing::AnyOf(HasSubstr("fork"), HasSubstr("Resource temporarily unavailable")));
  // Kill the shell and what it started.
  auto listed = ReadFile(procs->back());
  ASSERT_TRUE(listed.ok());
  std::istringstream ids(*listed);
  for (pid_t p; ids >> p;) RealProcessOps().Signal(p, SIGKILL).ok();
}

TEST(CgroupSpawnTest, AGroupThatCannotBeJoinedFailsTheSpawn) {
  SpawnOptions so;
  so.argv = {"true"};
  so.cgroup_procs_files = {"/nonexistent-banger-cgroup/cgroup.procs"};
  auto pid = SpawnDetached(so);
  ASSERT_FALSE(pid.ok());
  EXPECT_THAT(pid.error().message(), HasSubstr("No such file"));
}

}  // namespace
}  // namespace banger
