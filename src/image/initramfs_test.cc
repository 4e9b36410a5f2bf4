#include "image/initramfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "banger/init_script.h"
#include "base/fs.h"
#include "base/process.h"
#include "image/image_test_util.h"

namespace banger {
namespace {

using ::testing::HasSubstr;

struct Entry {
  unsigned type = 0;
  mode_t perm = 0;
  int64_t uid = -1, gid = -1;
  std::string data;
  std::string symlink;
  unsigned rdev_major = 0, rdev_minor = 0;
};

// Reads an archive back with libarchive's generic reader, keyed by path.
std::map<std::string, Entry> ReadArchive(const std::string& path) {
  std::map<std::string, Entry> out;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_all(a.get());
  EXPECT_EQ(archive_read_open_filename(a.get(), path.c_str(), 65536), ARCHIVE_OK)
      << archive_error_string(a.get());
  EXPECT_EQ(archive_filter_code(a.get(), 0), ARCHIVE_FILTER_GZIP);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    EXPECT_EQ(archive_format(a.get()), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
    Entry entry;
    entry.type = archive_entry_filetype(e);
    entry.perm = archive_entry_perm(e);
    entry.uid = archive_entry_uid(e);
    entry.gid = archive_entry_gid(e);
    if (const char* target = archive_entry_symlink(e)) entry.symlink = target;
    entry.rdev_major = archive_entry_rdevmajor(e);
    entry.rdev_minor = archive_entry_rdevminor(e);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0)
      entry.data.append(buf, static_cast<size_t>(n));
    out[archive_entry_pathname(e)] = entry;
  }
  return out;
}

class InitramfsTest : public ScratchDirTest {};

TEST_F(InitramfsTest, WrittenEntriesReadBackWithTypesModesAndRootOwnership) {
  const std::string path = dir_ + "/test.cpio.gz";
  {
    auto w = CpioWriter::Create(path);
    ASSERT_TRUE(w.ok()) << w.error().message();
    ASSERT_TRUE(w->AddFile("/bin/tool", "binary bytes", 0755).ok());
    ASSERT_TRUE(w->AddSymlink("/bin/sh", "tool").ok());
    ASSERT_TRUE(w->AddCharDevice("/dev/console", 0600, 5, 1).ok());
    ASSERT_TRUE(w->AddDirectory("/tmp", 01777).ok());
    ASSERT_TRUE(w->AddFile("/etc/deep/nested/conf", "", 0644).ok());
    ASSERT_TRUE(w->Finish().ok());
  }
  auto entries = ReadArchive(path);
  ASSERT_EQ(entries.count("bin"), 1u) << "parents are added";
  EXPECT_EQ(entries["bin"].type, static_cast<unsigned>(AE_IFDIR));
  EXPECT_EQ(entries["bin/tool"].type, static_cast<unsigned>(AE_IFREG));
  EXPECT_EQ(entries["bin/tool"].perm, 0755u);
  EXPECT_EQ(entries["bin/tool"].data, "binary bytes");
  EXPECT_EQ(entries["bin/sh"].type, static_cast<unsigned>(AE_IFLNK));
  EXPECT_EQ(entries["bin/sh"].symlink, "tool");
  EXPECT_EQ(entries["dev/console"].type, static_cast<unsigned>(AE_IFCHR));
  EXPECT_EQ(entries["dev/console"].rdev_major, 5u);
  EXPECT_EQ(entries["dev/console"].rdev_minor, 1u);
  EXPECT_EQ(entries["tmp"].perm, 01777u);
  EXPECT_EQ(entries.count("etc/deep/nested"), 1u);
  EXPECT_EQ(entries["etc/deep/nested/conf"].data, "");
  for (const auto& [name, e] : entries) {
    EXPECT_EQ(e.uid, 0) << name;
    EXPECT_EQ(e.gid, 0) << name;
  }
}

TEST_F(InitramfsTest, HostCpioListsTheArchive) {
  const std::string path = dir_ + "/test.cpio.gz";
  auto w = CpioWriter::Create(path);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->AddFile("/init", "#!/bin/sh\n", 0755).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto gunzip = RunChecked({"gzip", "-dc", path});
  ASSERT_TRUE(gunzip.ok()) << gunzip.error().message();
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/test.cpio", gunzip->out).ok());
  auto listed = RunChecked({"cpio", "-t", "-F", dir_ + "/test.cpio"});
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  EXPECT_EQ(listed->out, "init\n");
}

TEST_F(InitramfsTest, BadPathsAndDuplicatesAreRejected) {
  auto w = CpioWriter::Create(dir_ + "/x.cpio.gz");
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->AddFile("relative", "", 0644).ok());
  EXPECT_FALSE(w->AddDirectory("/trailing/").ok());
  ASSERT_TRUE(w->AddFile("/a", "", 0644).ok());
  auto dup = w->AddFile("/a", "", 0644);
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.error().message(), HasSubstr("twice"));
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_FALSE(w->AddFile("/b", "", 0644).ok()) << "no entries after Finish";
}

TEST(IsDynamicElfTest, TellsStaticFromDynamic) {
  auto busybox = ReadFile("/bin/busybox");  // Debian's busybox-static
  ASSERT_TRUE(busybox.ok());
  auto is_dynamic = IsDynamicElf(*busybox);
  ASSERT_TRUE(is_dynamic.ok()) << is_dynamic.error().message();
  EXPECT_FALSE(*is_dynamic);
  auto ls = ReadFile("/bin/ls");
  ASSERT_TRUE(ls.ok());
  is_dynamic = IsDynamicElf(*ls);
  ASSERT_TRUE(is_dynamic.ok()) << is_dynamic.error().message();
  EXPECT_TRUE(*is_dynamic);
  EXPECT_FALSE(IsDynamicElf("#!/bin/sh\n").ok());
}

TEST_F(InitramfsTest, WriteInitramfsLaysOutInitBusyboxAgentAndModules) {
  const std::string kver = "6.1.0-test";
  const std::string mods = dir_ + "/modules";
  const std::string kdir = mods + "/lib/modules/" + kver + "/kernel";
  ASSERT_TRUE(MakeDirs(kdir + "/a").ok());
  ASSERT_TRUE(WriteFileAtomic(kdir + "/a/first.ko", "FIRST").ok());
  ASSERT_TRUE(WriteFileAtomic(kdir + "/second.ko", "SECOND").ok());
  InitramfsSpec spec;
  spec.init_script = kGuestInitScript;
  spec.busybox_path = "/bin/busybox";
  spec.agent_path = "/bin/busybox";  // any static program will do here
  spec.modules_root = mods;
  spec.kernel_version = kver;
  spec.modules = {{"first", "kernel/a/first.ko"}, {"second", "kernel/second.ko"}};
  const std::string out = dir_ + "/initrd.img";
  auto st = WriteInitramfs(out, spec);
  ASSERT_TRUE(st.ok()) << st.error().message();

  auto entries = ReadArchive(out);
  EXPECT_EQ(entries["init"].perm, 0755u);
  EXPECT_EQ(entries["init"].data, kGuestInitScript);
  EXPECT_EQ(entries["bin/busybox"].perm, 0755u);
  EXPECT_EQ(entries["bin/banger-agent"].perm, 0755u);
  for (const std::string& applet : InitramfsApplets()) {
    EXPECT_EQ(entries["bin/" + applet].symlink, "busybox") << applet;
  }
  EXPECT_EQ(entries["lib/modules/6.1.0-test/kernel/a/first.ko"].data, "FIRST");
  EXPECT_EQ(entries["lib/modules/6.1.0-test/kernel/second.ko"].data, "SECOND");
  EXPECT_EQ(entries["lib/banger/modules"].data,
            "/lib/modules/6.1.0-test/kernel/a/first.ko\n/lib/modules/6.1.0-test/kernel/second.ko\n");
  EXPECT_EQ(entries["dev/console"].type, static_cast<unsigned>(AE_IFCHR));
  EXPECT_EQ(entries.count("newroot"), 1u);
  // A kernel without 9p: no modules-9p list (the init refuses mounts then).
  EXPECT_EQ(entries.count("lib/banger/modules-9p"), 0u);
  // Not an OCI root: the init execs the image's own /sbin/init.
  EXPECT_EQ(entries.count("lib/banger/oci"), 0u);

  spec.modules = {{"first", "kernel/a/first.ko"}};
  spec.mount_modules = std::vector<ModuleFile>{{"second", "kernel/second.ko"}};
  ASSERT_TRUE(WriteInitramfs(out, spec).ok());
  entries = ReadArchive(out);
  EXPECT_EQ(entries["lib/banger/modules"].data, "/lib/modules/6.1.0-test/kernel/a/first.ko\n");
  EXPECT_EQ(entries["lib/banger/modules-9p"].data, "/lib/modules/6.1.0-test/kernel/second.ko\n");

  // An OCI image's root: the marker the init looks for, and nothing else
  // changes.
  spec.oci_root = true;
  ASSERT_TRUE(WriteInitramfs(out, spec).ok());
  auto oci = ReadArchive(out);
  ASSERT_EQ(oci.count("lib/banger/oci"), 1u);
  EXPECT_EQ(oci["lib/banger/oci"].type, static_cast<unsigned>(AE_IFREG));
  EXPECT_EQ(oci["lib/banger/oci"].data, "1\n");
  EXPECT_EQ(oci["lib/banger/oci"].perm, 0644u);
  oci.erase("lib/banger/oci");
  EXPECT_EQ(oci.size(), entries.size());
  EXPECT_EQ(oci["init"].data, kGuestInitScript);
}

// The guest init's decoding of banger.mount= directories (busybox printf %b
// of the %HH form model/mounts.h writes), run by busybox sh as the init does.
TEST(GuestInitScriptTest, DecodesPercentEncodedMountPaths) {
  const std::string script =
      "m='banger3,ro,/my%20data%2Cx%3Ay%22%25%5Cn%C3%A9'\n"
      "tag=${m%%,*} rest=${m#*,}\n"
      "mode=${rest%%,*} enc=${rest#*,}\n"
      "dir=$(printf '%b' \"${enc//%/\\\\x}\")\n"
      "printf '%s|%s|%s' \"$tag\" \"$mode\" \"$dir\"\n";
  // The same expansion text as the init script uses.
  EXPECT_THAT(std::string(kGuestInitScript), HasSubstr("dir=$(printf '%b' \"${enc//%/\\\\x}\")"));
  auto r = RunCommand({"/bin/busybox", "sh", "-c", script});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "banger3|ro|/my data,x:y\"%\\n\xc3\xa9");
}

TEST_F(InitramfsTest, DynamicAgentIsRefused) {
  InitramfsSpec spec;
  spec.init_script = "#!/bin/sh\n";
  spec.busybox_path = "/bin/busybox";
  spec.agent_path = "/bin/ls";
  auto st = WriteInitramfs(dir_ + "/initrd.img", spec);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message(), HasSubstr("dynamically linked"));
}

// The embedded script must at least parse: a syntax error would only show
// as a guest that never boots.
TEST(GuestInitScriptTest, ParsesWithBusyboxSh) {
  char tmpl[] = "/tmp/banger-init-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_TRUE(WriteFileAtomic(tmpl, kGuestInitScript).ok());
  auto r = RunCommand({"/bin/busybox", "sh", "-n", tmpl});
  ::unlink(tmpl);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(std::string(kGuestInitScript), HasSubstr("echo \"banger-init: ready\""));
}

}  // namespace
}  // namespace banger
