#include "image/rootfs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "base/fs.h"
#include "base/process.h"
#include "image/image_test_util.h"

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseLddOutputTest, LibrariesAndLoaderInOrderWithoutVdso) {
  // `ldd /usr/sbin/dropbear` on Debian 12.
  auto libs = ParseLddOutput(
      "\tlinux-vdso.so.1 (0x00007ffd4a5f2000)\n"
      "\tlibtomcrypt.so.1 => /lib/x86_64-linux-gnu/libtomcrypt.so.1 (0x00007f0e65d50000)\n"
      "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f0e65d13000)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e65af5000)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e65e75000)\n");
  ASSERT_TRUE(libs.ok()) << libs.error().message();
  EXPECT_THAT(*libs, ElementsAre("/lib/x86_64-linux-gnu/libtomcrypt.so.1", "/lib/x86_64-linux-gnu/libz.so.1",
                                 "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"));
}

TEST(ParseLddOutputTest, DuplicatesAppearOnce) {
  auto libs = ParseLddOutput("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n");
  ASSERT_TRUE(libs.ok());
  EXPECT_THAT(*libs, ElementsAre("/lib/libc.so.6"));
}

TEST(ParseLddOutputTest, MissingLibraryIsNamed) {
  auto libs = ParseLddOutput("\tlibgone.so.3 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n");
  ASSERT_FALSE(libs.ok());
  EXPECT_THAT(libs.error().message(), HasSubstr("libgone.so.3"));
}

TEST(ParseLddOutputTest, StaticProgramsNeedNothing) {
  auto libs = ParseLddOutput("\tstatically linked\n");
  ASSERT_TRUE(libs.ok());
  EXPECT_THAT(*libs, IsEmpty());
  libs = ParseLddOutput("\tnot a dynamic executable\n");
  ASSERT_TRUE(libs.ok());
  EXPECT_THAT(*libs, IsEmpty());
}

TEST(MinimalConfigTest, RootIsTheOnlyUserAndCannotUseAPassword) {
  EXPECT_EQ(MinimalPasswdConfig(), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(MinimalShadowConfig().rfind("root:*:", 0), 0u);
  EXPECT_THAT(MinimalGroupConfig(), HasSubstr("root:x:0:"));
}

TEST(MinimalConfigTest, InittabRunsRcsRespawnsDropbearAndShutsDownCleanly) {
  const std::string inittab = MinimalInittabConfig();
  EXPECT_THAT(inittab, HasSubstr("::sysinit:/etc/init.d/rcS\n"));
  EXPECT_THAT(inittab, HasSubstr("::respawn:/usr/sbin/dropbear -F -E"));
  EXPECT_THAT(inittab, HasSubstr("::ctrlaltdel:/sbin/reboot\n"));
  EXPECT_THAT(inittab, HasSubstr("::respawn:/sbin/acpid -f\n"));
  EXPECT_THAT(inittab, HasSubstr("::shutdown:"));
  const std::string rcs = MinimalRcsConfig();
  for (const char* mount : {"devpts", "/run", "/tmp", "ip link set lo up"})
    EXPECT_THAT(rcs, HasSubstr(mount));
  // The initramfs mounted /run before the agent started: not hidden again.
  EXPECT_THAT(rcs, HasSubstr("grep -q ' /run ' /proc/mounts || mount -t tmpfs"));
  // Nor /dev/pts: one devpts, or the agent's ptys have no name.
  EXPECT_THAT(rcs, HasSubstr("grep -q ' /dev/pts devpts ' /proc/mounts || mount -t devpts"));
}

TEST(DebootstrapArgvTest, DockerAddsDockerKmodAndApparmor) {
  auto plain = DebootstrapArgv("/s", false);
  EXPECT_THAT(plain,
              ElementsAre("debootstrap", "--variant=minbase",
                          "--include=systemd-sysv,udev,dbus,openssh-server,ca-certificates,git,iproute2",
                          "bookworm", "/s"));
  auto docker = DebootstrapArgv("/s", true);
  EXPECT_THAT(docker[2], HasSubstr(",docker.io,kmod,apparmor"));
  // The rest of the command is the plain profile's.
  EXPECT_EQ(docker.size(), plain.size());
  EXPECT_THAT(docker[2], HasSubstr(plain[2].substr(std::string("--include=").size())));
}

class StagingTest : public ScratchDirTest {};

TEST_F(StagingTest, MinimalRootfsHasInitDropbearWithLibrariesAndAgent) {
  const std::string root = dir_ + "/root";
  ASSERT_TRUE(MakeDirs(root).ok());
  auto st = StageMinimalRootfs(root, "/bin/busybox", "/bin/busybox");
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(std::filesystem::read_symlink(root + "/sbin/init"), "/bin/busybox");
  EXPECT_EQ(std::filesystem::read_symlink(root + "/bin/sh"), "/bin/busybox");
  EXPECT_TRUE(IsRegularFile(root + "/usr/sbin/dropbear"));
  EXPECT_TRUE(IsRegularFile(root + "/lib64/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(IsRegularFile(root + "/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(IsRegularFile(root + "/etc/dropbear/dropbear_ed25519_host_key"));
  EXPECT_TRUE(IsRegularFile(root + "/usr/local/sbin/banger-agent"));
  EXPECT_TRUE(IsRegularFile(root + "/etc/acpi/PWRF/00000080"));
  struct stat st_shadow {};
  ASSERT_EQ(::stat((root + "/etc/shadow").c_str(), &st_shadow), 0);
  EXPECT_EQ(st_shadow.st_mode & 07777, 0600u);
  struct stat st_tmp {};
  ASSERT_EQ(::stat((root + "/tmp").c_str(), &st_tmp), 0);
  EXPECT_EQ(st_tmp.st_mode & 07777, 01777u);
}

TEST_F(StagingTest, MakeExt4CopiesTheTreeIntoALabelledSparseImage) {
  const std::string src = dir_ + "/src";
  ASSERT_TRUE(MakeDirs(src + "/etc").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/etc/hello", "hi\n").ok());
  const std::string img = dir_ + "/fs.ext4";
  auto st = MakeExt4({img, 32 << 20, "banger-test", src, /*journal=*/false});
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(std::filesystem::file_size(img), 32u << 20);
  EXPECT_LT(AllocatedBytes(img), 8 << 20) << "sparse";
  auto label = RunChecked({"e2label", img});
  ASSERT_TRUE(label.ok()) << label.error().message();
  EXPECT_EQ(label->out, "banger-test\n");
  auto cat = RunChecked({"debugfs", "-R", "cat /etc/hello", img});
  ASSERT_TRUE(cat.ok()) << cat.error().message();
  EXPECT_EQ(cat->out, "hi\n");
  auto features = RunChecked({"debugfs", "-R", "features", img});
  ASSERT_TRUE(features.ok());
  EXPECT_THAT(features->out, ::testing::Not(HasSubstr("has_journal")));
}

TEST_F(StagingTest, MakeExt4ThatDoesNotFitFailsWithMkfsReason) {
  const std::string src = dir_ + "/src";
  ASSERT_TRUE(MakeDirs(src).ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/big", std::string(8 << 20, 'x')).ok());
  auto st = MakeExt4({dir_ + "/small.ext4", 4 << 20, "small", src, true});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message(), HasSubstr("mkfs.ext4"));
}

}  // namespace
}  // namespace banger

namespace banger {
namespace {

TEST(Ext4FitTest, HeadroomAndInodes) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  TreeFit f = Ext4FitFor(100 * kMiB, 1000);
  EXPECT_EQ(f.inodes, 1000 + 200 + 4096);
  EXPECT_EQ(f.bytes % kMiB, 0);
  EXPECT_GE(f.bytes, 125 * kMiB + 64 * kMiB);
  EXPECT_LT(f.bytes, 192 * kMiB);
  EXPECT_GE(Ext4FitFor(0, 0).bytes, 64 * kMiB);
}

}  // namespace
}  // namespace banger
