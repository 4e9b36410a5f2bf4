// Host folders in the daemon: the caller's access check (against fake OS
// calls), the Firecracker and no-9p refusals, the launch spec, and the
// refusal to save a VM with mounts.
#include "daemon/vm_mounts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "daemon/testing/vm_service_fixture.h"
#include "model/mounts.h"

namespace banger {
namespace {

// Paths map to what they resolve to; access is granted per (path, uid, mode).
struct FakeMountFs {
  std::map<std::string, std::string> resolves;  // path -> resolved
  std::map<std::string, bool> dirs;             // resolved -> is a directory
  // (path, uid) -> the modes granted (R_OK|W_OK|X_OK bits)
  std::map<std::pair<std::string, uid_t>, int> granted;
  std::vector<std::pair<std::string, Credentials>> probes;

  MountOps Ops() {
    MountOps ops;
    ops.resolve = [this](const std::string& p) -> Result<std::string> {
      auto it = resolves.find(p);
      if (it == resolves.end()) return Error::FromErrno(p, ENOENT);
      return it->second;
    };
    ops.is_directory = [this](const std::string& p) { return dirs.count(p) && dirs[p]; };
    ops.access_as = [this](const std::string& p, const Credentials& who, int mode) -> Result<int> {
      probes.emplace_back(p, who);
      auto it = granted.find({p, who.uid});
      int have = it == granted.end() ? 0 : it->second;
      return (have & mode) == mode ? 0 : EACCES;
    };
    return ops;
  }
};

const Credentials kAlice{1000, 1000, {1000, 27}};

TEST(MountAccessTest, ResolvesOnceAndChecksAsTheCaller) {
  FakeMountFs fs;
  fs.resolves["/home/alice/link"] = "/home/alice/real";
  fs.dirs["/home/alice/real"] = true;
  fs.granted[{"/home/alice/real", 1000}] = R_OK | X_OK;
  auto out = CheckMountsForCaller({{"/home/alice/link", "/data", true}}, kAlice, fs.Ops());
  ASSERT_TRUE(out.ok()) << out.error().message();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].host_path, "/home/alice/real");  // the resolved path is kept
  EXPECT_TRUE((*out)[0].read_only);
  ASSERT_EQ(fs.probes.size(), 1u);
  EXPECT_EQ(fs.probes[0].first, "/home/alice/real");
  EXPECT_EQ(fs.probes[0].second.uid, 1000u);
  EXPECT_EQ(fs.probes[0].second.groups, (std::vector<gid_t>{1000, 27}));
}

TEST(MountAccessTest, ReadOnlyCallerCannotMountReadWrite) {
  FakeMountFs fs;
  fs.resolves["/srv/x"] = "/srv/x";
  fs.dirs["/srv/x"] = true;
  fs.granted[{"/srv/x", 1000}] = R_OK | X_OK;
  auto rw = CheckMountsForCaller({{"/srv/x", "/x", false}}, kAlice, fs.Ops());
  ASSERT_FALSE(rw.ok());
  EXPECT_EQ(rw.error().message(),
            "host folder /srv/x: uid 1000 may not read and write it (Permission denied)");
  EXPECT_TRUE(CheckMountsForCaller({{"/srv/x", "/x", true}}, kAlice, fs.Ops()).ok());
}

TEST(MountAccessTest, UnreadableMissingNotADirectoryOrNoCaller) {
  FakeMountFs fs;
  fs.resolves["/root/secret"] = "/root/secret";
  fs.dirs["/root/secret"] = true;
  fs.granted[{"/root/secret", 0}] = R_OK | W_OK | X_OK;  // root may, alice may not
  auto secret = CheckMountsForCaller({{"/root/secret", "/s", true}}, kAlice, fs.Ops());
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().message(),
            "host folder /root/secret: uid 1000 may not read it (Permission denied)");

  auto missing = CheckMountsForCaller({{"/nope", "/s", true}}, kAlice, fs.Ops());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("host folder /nope: "), std::string::npos);

  fs.resolves["/etc/passwd"] = "/etc/passwd";
  auto file = CheckMountsForCaller({{"/etc/passwd", "/s", true}}, kAlice, fs.Ops());
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().message(), "host folder /etc/passwd is not a directory");

  fs.resolves["/srv"] = "/srv";
  fs.dirs["/srv"] = true;
  auto anon = CheckMountsForCaller({{"/srv", "/s", true}}, std::nullopt, fs.Ops());
  ASSERT_FALSE(anon.ok());
  EXPECT_NE(anon.error().message().find("needs the local API socket"), std::string::npos);
  // No mounts, no caller needed.
  EXPECT_TRUE(CheckMountsForCaller({}, std::nullopt, fs.Ops()).ok());
  // The list rules apply first.
  auto bad = CheckMountsForCaller({{"/srv", "/proc/x", true}}, kAlice, fs.Ops());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("must not be at or under /proc"), std::string::npos);
}

TEST(MountAccessTest, BootRefusesASymlinkThatAppeared) {
  FakeMountFs fs;
  fs.resolves["/srv/x"] = "/etc";
  fs.dirs["/etc"] = true;
  Status st = CheckMountsAtBoot({{"/srv/x", "/x", true}}, fs.Ops());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "host folder /srv/x now resolves to /etc (a symlink appeared in its path); recreate the vm to "
            "share it");
  fs.resolves["/srv/x"] = "/srv/x";
  fs.dirs["/srv/x"] = true;
  EXPECT_TRUE(CheckMountsAtBoot({{"/srv/x", "/x", true}}, fs.Ops()).ok());
}

TEST(MountAccessTest, RealAccessProbeAsAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to take another uid";
  testing::TempDir dir("bgmnt");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);
  const Credentials nobody{65534, 65534, {}};
  auto err = RealMountOps().access_as(dir.path(), nobody, R_OK | X_OK);
  ASSERT_TRUE(err.ok()) << err.error().message();
  EXPECT_EQ(*err, EACCES);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  EXPECT_EQ(*RealMountOps().access_as(dir.path(), nobody, R_OK | X_OK), 0);
  EXPECT_EQ(*RealMountOps().access_as(dir.path(), nobody, W_OK), EACCES);
}

// A module tree at `dir` whose modules.dep has 9p or not.
void WriteModuleTree(const std::string& dir, const std::string& kver, bool with_9p) {
  std::string dep = "kernel/drivers/virtio/virtio_mmio.ko:\n";
  if (with_9p) {
    dep +=
        "kernel/net/9p/9pnet.ko:\nkernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\n"
        "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko\n";
  }
  std::filesystem::create_directories(dir + "/lib/modules/" + kver);
  ASSERT_TRUE(WriteFileAtomic(dir + "/lib/modules/" + kver + "/modules.dep", dep).ok());
}

TEST(MountImageTest, RefusesAKernelWithout9pByItsModules) {
  testing::TempDir dir("bgmod", {"cloud", "generic"});
  WriteModuleTree(dir / "cloud", "6.1.0-57-cloud-amd64", false);
  WriteModuleTree(dir / "generic", "6.1.0-57-amd64", true);
  Image img;
  img.name = "small";
  img.modules_dir = dir / "cloud";
  const std::vector<VmMount> mounts = {{"/srv", "/srv", true}};
  Status st = CheckImageMounts(img, mounts);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(
      st.error().message(),
      "--mount needs a kernel with 9p, and image small's kernel 6.1.0-57-cloud-amd64 has none: build one "
      "that has 9p with `banger image build NAME --kernel-flavour generic`");
  EXPECT_TRUE(CheckImageMounts(img, {}).ok());
  img.modules_dir = dir / "generic";
  EXPECT_TRUE(CheckImageMounts(img, mounts).ok());
  img.modules_dir = "";
  auto none = CheckImageMounts(img, mounts);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("has no module tree to tell"), std::string::npos);
}

class MountVmTest : public VmServiceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(VmServiceTest::SetUp());
    host_ = tmp_ / "share";
    std::filesystem::create_directories(host_);
    fs_.resolves[host_] = host_;
    fs_.dirs[host_] = true;
    fs_.granted[{host_, 1000}] = R_OK | W_OK | X_OK;
    ops_ = fs_.Ops();
    // An image whose kernel has 9p.
    WriteModuleTree(tmp_ / "mods", "6.1.0-57-amd64", true);
    auto img = images_->ImportImage(
        {"nine", root_ + "/vmlinux", root_ + "/rootfs.ext4", root_ + "/initrd.img", tmp_ / "mods", ""});
    ASSERT_TRUE(img.ok()) << img.error().message();
    VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.mount_ops = &ops_;
    svc_ = std::make_unique<VmService>(d);
  }
  CreateVmRequest WithMount(const std::string& name, const std::string& image) {
    CreateVmRequest r = Named(name);
    r.image = image;
    r.mounts = {{host_, "/mnt/my data", true}};
    return r;
  }
  std::string host_;
  FakeMountFs fs_;
  MountOps ops_;
};

TEST_F(MountVmTest, QemuLaunchGetsSharesAndKernelArgs) {
  auto c = svc_->Create(WithMount("m1", "nine"), kAlice);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->view.vm.spec.mounts, (std::vector<VmMount>{{host_, "/mnt/my data", true}}));
  ASSERT_EQ(qemu_.launches.size(), 1u);
  const LaunchSpec& ls = qemu_.launches[0];
  ASSERT_EQ(ls.shares.size(), 1u);
  EXPECT_EQ(ls.shares[0].tag, "banger0");
  EXPECT_EQ(ls.shares[0].host_path, host_);
  EXPECT_TRUE(ls.shares[0].read_only);
  EXPECT_NE(ls.kernel_cmdline.find(" banger.mount=banger0,ro,/mnt/my%20data"), std::string::npos)
      << ls.kernel_cmdline;
  // Kept in the store: a restarted daemon boots it with the same mounts.
  auto again = MakeService()->Get("m1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->vm.spec.mounts, c->view.vm.spec.mounts);
}

TEST_F(MountVmTest, FirecrackerIsRefusedInOneLine) {
  CreateVmRequest r = WithMount("f1", "nine");
  r.backend = "firecracker";
  auto c = svc_->Create(r, kAlice);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            "--mount needs the QEMU backend: Firecracker has no file-system sharing; use `banger vm cp` or a "
            "workspace");
  EXPECT_TRUE(fc_.launches.empty());
  EXPECT_FALSE(store_->GetVm("f1").ok());
}

TEST_F(MountVmTest, ImageWithout9pIsRefusedBeforeAnythingIsMade) {
  auto c = svc_->Create(WithMount("c1", "base"), kAlice);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("--mount needs a kernel with 9p, and image base has no module tree"),
            std::string::npos)
      << c.error().message();
  EXPECT_TRUE(qemu_.launches.empty());
  EXPECT_FALSE(store_->GetVm("c1").ok());
}

TEST_F(MountVmTest, CallerWithoutAccessIsRefused) {
  const Credentials bob{1001, 1001, {}};
  auto c = svc_->Create(WithMount("b1", "nine"), bob);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("uid 1001 may not read it"), std::string::npos) << c.error().message();
}

TEST_F(MountVmTest, AVmWithMountsCannotBeSaved) {
  auto c = svc_->Create(WithMount("s1", "nine"), kAlice);
  ASSERT_TRUE(c.ok()) << c.error().message();
  Status st = CheckSavable(c->view.vm);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("QEMU cannot save a VM with a mounted 9p share"), std::string::npos);
  EXPECT_TRUE(CheckSavable(MustCreate("plain")).ok());
}

}  // namespace
}  // namespace banger
