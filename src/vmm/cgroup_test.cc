// VmCgroups against a temp directory standing in for "/": detection from
// mountinfo and /proc/self/cgroup, group paths, limit files, removal.
#include "vmm/cgroup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/testing/temp_dir.h"

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// This CI host's shape: v1 controllers, an empty cgroup2 at .../unified.
constexpr const char* kV1MountInfo =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kV1SelfCgroup =
    "8:pids:/\n"
    "4:memory:/process_api/abc\n"
    "1:cpu:/\n"
    "0::/\n";
// A standard Debian 12 host: the unified hierarchy only.
constexpr const char* kV2MountInfo =
    "25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

class CgroupFsTest : public ::testing::Test {
 protected:
  void Put(const std::string& rel, const std::string& text) {
    std::string path = root_.path() + rel;
    ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
    ASSERT_TRUE(WriteFileAtomic(path, text).ok());
  }
  std::string Read(const std::string& rel) {
    auto r = ReadFile(root_.path() + rel);
    return r.ok() ? *r : "<missing>";
  }
  void V1Host() {
    Put("/proc/self/mountinfo", kV1MountInfo);
    Put("/proc/self/cgroup", kV1SelfCgroup);
    Put("/sys/fs/cgroup/unified/cgroup.controllers", "");
    Put("/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes", "9223372036854771712\n");
    Put("/sys/fs/cgroup/pids/pids.max", "max\n");
  }
  void V2Host() {
    Put("/proc/self/mountinfo", kV2MountInfo);
    Put("/proc/self/cgroup", "0::/system.slice/bangerd.service\n");
    Put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    Put("/sys/fs/cgroup/cgroup.subtree_control", "cpu memory\n");
  }

  testing::TempDir root_{"bgcg"};
};

TEST(MountInfoTest, ParsesOptionalFieldsAndEscapes) {
  auto m = ParseMountInfo(
      "25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n"
      "40 31 0:37 /docker/x /a\\040b rw - cgroup cgroup rw,memory\n"
      "garbage line\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(m[0].fs_type, "cgroup2");
  EXPECT_EQ(m[0].super_options, "rw,nsdelegate");
  EXPECT_EQ(m[1].root, "/docker/x");
  EXPECT_EQ(m[1].mount_point, "/a b");
  EXPECT_EQ(m[1].super_options, "rw,memory");
}

TEST_F(CgroupFsTest, DetectsV1UnderTheDaemonsOwnGroups) {
  V1Host();
  CgroupHost h = DetectCgroupHost(root_.path());
  ASSERT_EQ(h.version, CgroupVersion::kV1) << h.why_none;
  EXPECT_EQ(h.memory_parent, root_.path() + "/sys/fs/cgroup/memory/process_api/abc");
  EXPECT_EQ(h.pids_parent, root_.path() + "/sys/fs/cgroup/pids");
  EXPECT_STREQ(CgroupVersionName(h.version), "v1");
}

TEST_F(CgroupFsTest, DetectsV2WhenItOffersMemoryAndPids) {
  V2Host();
  CgroupHost h = DetectCgroupHost(root_.path());
  ASSERT_EQ(h.version, CgroupVersion::kV2) << h.why_none;
  EXPECT_EQ(h.v2_parent, root_.path() + "/sys/fs/cgroup");
}

TEST_F(CgroupFsTest, V1MountRootedInAContainerIsRelativeToIt) {
  Put("/proc/self/mountinfo",
      "35 31 0:32 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "39 31 0:36 /docker/c1 /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
  Put("/proc/self/cgroup", "8:pids:/docker/c1\n4:memory:/docker/c1/sub\n");
  CgroupHost h = DetectCgroupHost(root_.path());
  ASSERT_EQ(h.version, CgroupVersion::kV1);
  EXPECT_EQ(h.memory_parent, root_.path() + "/sys/fs/cgroup/memory/sub");
  EXPECT_EQ(h.pids_parent, root_.path() + "/sys/fs/cgroup/pids");
}

TEST_F(CgroupFsTest, NoneWhenControllersAreMissing) {
  Put("/proc/self/mountinfo", "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  Put("/proc/self/cgroup", "4:memory:/\n");
  CgroupHost h = DetectCgroupHost(root_.path());
  EXPECT_EQ(h.version, CgroupVersion::kNone);
  EXPECT_THAT(h.why_none, HasSubstr("memory and pids"));
  VmCgroups cg(h);
  EXPECT_FALSE(cg.enabled());
  EXPECT_TRUE(cg.GroupDirs("x").empty());
  auto made = cg.Create("x", {});
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error().kind(), ErrorKind::kUnavailable);
  EXPECT_TRUE(cg.Remove("x").ok());
}

TEST_F(CgroupFsTest, NoneWithoutMountInfo) {
  CgroupHost h = DetectCgroupHost(root_.path());
  EXPECT_EQ(h.version, CgroupVersion::kNone);
  EXPECT_THAT(h.why_none, HasSubstr("mountinfo"));
}

TEST_F(CgroupFsTest, V1CreateWritesLimitsInBothHierarchiesAndRemoveUndoes) {
  V1Host();
  VmCgroups cg(DetectCgroupHost(root_.path()));
  auto procs = cg.Create("0123456789abcdef", {2 * 1024LL * 1024 * 1024, 256});
  ASSERT_TRUE(procs.ok()) << procs.error().message();
  const std::string mem = "/sys/fs/cgroup/memory/process_api/abc/banger/0123456789abcdef";
  const std::string pids = "/sys/fs/cgroup/pids/banger/0123456789abcdef";
  EXPECT_THAT(*procs,
              ElementsAre(root_.path() + mem + "/cgroup.procs", root_.path() + pids + "/cgroup.procs"));
  EXPECT_EQ(Read(mem + "/memory.limit_in_bytes"), "2147483648");
  EXPECT_EQ(Read(pids + "/pids.max"), "256");
  EXPECT_THAT(cg.List(), ElementsAre("0123456789abcdef"));

  ASSERT_TRUE(cg.Remove("0123456789abcdef").ok());
  EXPECT_FALSE(PathExists(root_.path() + mem));
  EXPECT_FALSE(PathExists(root_.path() + pids));
  EXPECT_TRUE(cg.List().empty());
  EXPECT_TRUE(cg.Remove("0123456789abcdef").ok());  // already gone
}

TEST_F(CgroupFsTest, V1UnlimitedWritesTheLiftValues) {
  V1Host();
  VmCgroups cg(DetectCgroupHost(root_.path()));
  ASSERT_TRUE(cg.Create("g", {}).ok());
  EXPECT_EQ(Read("/sys/fs/cgroup/memory/process_api/abc/banger/g/memory.limit_in_bytes"), "-1");
  EXPECT_EQ(Read("/sys/fs/cgroup/pids/banger/g/pids.max"), "max");
}

TEST_F(CgroupFsTest, V2CreateEnablesControllersAndWritesLimits) {
  V2Host();
  VmCgroups cg(DetectCgroupHost(root_.path()));
  auto procs = cg.Create("feedfacefeedface", {300 * 1024LL * 1024, 128});
  ASSERT_TRUE(procs.ok()) << procs.error().message();
  const std::string dir = "/sys/fs/cgroup/banger/feedfacefeedface";
  EXPECT_THAT(*procs, ElementsAre(root_.path() + dir + "/cgroup.procs"));
  EXPECT_EQ(Read(dir + "/memory.max"), "314572800");
  EXPECT_EQ(Read(dir + "/pids.max"), "128");
  // The root had memory on already: only pids was asked for (a plain file
  // here keeps the last write; cgroupfs would merge it).
  EXPECT_EQ(Read("/sys/fs/cgroup/cgroup.subtree_control"), "+pids");
  EXPECT_EQ(Read("/sys/fs/cgroup/banger/cgroup.subtree_control"), "+pids");
  EXPECT_THAT(cg.GroupDirs("feedfacefeedface"), ElementsAre(root_.path() + dir));
  ASSERT_TRUE(cg.Remove("feedfacefeedface").ok());
  EXPECT_FALSE(PathExists(root_.path() + dir));
}

TEST_F(CgroupFsTest, NamesAreCheckedSoNoPathEscapes) {
  V2Host();
  VmCgroups cg(DetectCgroupHost(root_.path()));
  for (const char* bad : {"", "..", "a/b", "x y", "../../etc"}) {
    auto made = cg.Create(bad, {});
    ASSERT_FALSE(made.ok()) << bad;
    EXPECT_EQ(made.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_FALSE(cg.Remove(bad).ok()) << bad;
  }
}

TEST_F(CgroupFsTest, ProbeLeavesNothingBehind) {
  V1Host();
  VmCgroups cg(DetectCgroupHost(root_.path()));
  ASSERT_TRUE(cg.Probe().ok());
  EXPECT_TRUE(cg.List().empty());
}

}  // namespace
}  // namespace banger
