// Host folders (`vm create --mount`, QEMU TCG, networking off), one boot: a
// read-only folder is readable in the guest and refuses writes with EROFS,
// a read-write folder shows the guest's writes on the host; Firecracker and
// an image without 9p are refused in one line each.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

class MountE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        h_.WriteConfig("backend = \"qemu\"\nqemu_accel = \"tcg\"\nnetwork = \"off\"\nstop_timeout = \"5s\"\n"
                       "default_image_name = \"g\"\n"
                       "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"128M\"\n"
                       "system_overlay_size = \"512M\"\n"));
    ASSERT_NO_FATAL_FAILURE(h_.BuildAgentImage("g", "generic"));
  }

  // One line on stderr containing `want`, non-zero exit.
  void ExpectRefused(const std::vector<std::string>& args, const std::string& want) {
    CliRun r = h_.Banger(args, std::chrono::seconds(120));
    EXPECT_NE(r.code, 0) << "succeeded: " << r.out;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "more than one line: " << r.err;
  }

  BangerHome h_;
};

TEST_F(MountE2E, ReadOnlyAndReadWriteFolders) {
  // Under the home, readable (ro) and writable (rw) by the VMM user: QEMU
  // serves the folder as that user (docs/security.md).
  const std::string ro = h_.root() + "/share ro";
  const std::string rw = h_.root() + "/share-rw";
  std::filesystem::create_directories(ro + "/sub");
  std::filesystem::create_directories(rw);
  ASSERT_EQ(::chmod(h_.root().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(ro.c_str(), 0755), 0);
  ASSERT_EQ(::chmod((ro + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(rw.c_str(), 0777), 0);
  ASSERT_TRUE(WriteFileAtomic(ro + "/sub/hello.txt", "hello from the host\n", 0644).ok());

  // Refusals first: they cost no boot.
  ExpectRefused({"vm", "create", "--name", "fc", "--backend", "firecracker", "--mount", ro + ":/data:ro"},
                "--mount needs the QEMU backend: Firecracker has no file-system sharing");
  ASSERT_NO_FATAL_FAILURE(h_.ImportTestGuest());  // "base": no module tree to show 9p
  ExpectRefused({"vm", "create", "--name", "nine", "--image", "base", "--mount", ro + ":/data:ro"},
                "--mount needs a kernel with 9p");
  ExpectRefused({"vm", "create", "--name", "bad", "--mount", ro + ":/proc/x"},
                "must not be at or under /proc");

  CliRun c = h_.Banger(
      {"vm", "create", "--name", "m", "--mount", ro + ":/mnt/host ro:ro", "--mount", rw + ":/mnt/rw"},
      std::chrono::seconds(300));
  ASSERT_EQ(c.code, 0) << c.err;

  // The API shows the mounts, resolved.
  Json vm = h_.BangerJson({"vm", "show", "m"});
  ASSERT_TRUE(vm["spec"]["mounts"].is_array()) << vm.dump();
  ASSERT_EQ(vm["spec"]["mounts"].size(), 2u);
  EXPECT_EQ(vm["spec"]["mounts"][0]["host_path"], ro);
  EXPECT_EQ(vm["spec"]["mounts"][0]["guest_path"], "/mnt/host ro");
  EXPECT_EQ(vm["spec"]["mounts"][0]["read_only"], true);
  EXPECT_EQ(vm["spec"]["mounts"][1]["read_only"], false);

  // Read-only: readable, and a write fails with EROFS.
  CliRun cat =
      h_.Banger({"vm", "exec", "m", "--", "cat", "/mnt/host ro/sub/hello.txt"}, std::chrono::seconds(240));
  EXPECT_EQ(cat.code, 0) << cat.err;
  EXPECT_EQ(cat.out, "hello from the host\n");
  CliRun write = h_.Banger({"vm", "exec", "m", "--", "sh", "-c", "echo x > '/mnt/host ro/new.txt'"},
                           std::chrono::seconds(120));
  EXPECT_NE(write.code, 0);
  EXPECT_NE(write.err.find("Read-only file system"), std::string::npos) << write.out << write.err;
  EXPECT_FALSE(PathExists(ro + "/new.txt"));

  // Read-write: the guest's file appears on the host.
  CliRun put =
      h_.Banger({"vm", "exec", "m", "--", "sh", "-c", "echo from the guest > /mnt/rw/out.txt && sync"},
                std::chrono::seconds(120));
  EXPECT_EQ(put.code, 0) << put.err;
  auto got = ReadFile(rw + "/out.txt");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, "from the guest\n");

  // A VM with a mounted 9p share cannot be saved: one line, and it keeps running.
  ExpectRefused({"vm", "snapshot", "create", "m"}, "QEMU cannot save a VM with a mounted 9p share");
  CliRun again = h_.Banger({"vm", "exec", "m", "--", "true"}, std::chrono::seconds(120));
  EXPECT_EQ(again.code, 0) << again.err;
}

}  // namespace
}  // namespace banger::e2e
