#include "image/modules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "image/kernel_info.h"

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Shaped like depmod's output for Debian's 6.1 cloud kernel; dependency
// lists are deliberately not in load order.
constexpr const char* kModulesDep =
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/net/core/failover.ko:\n"
    "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
    "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko "
    "kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/fs/overlayfs/overlay.ko:\n"
    "kernel/net/vmw_vsock/vsock.ko:\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: kernel/net/vmw_vsock/vsock.ko\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: "
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko "
    "kernel/net/vmw_vsock/vsock.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/acpi/button.ko:\n"
    "kernel/drivers/input/evdev.ko:\n"
    "kernel/arch/x86/crypto/crc32c-intel.ko.xz:\n";

constexpr const char* kBuiltin =
    "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\nkernel/crypto/crc32c_generic.ko\n";

std::vector<std::string> Names(const std::vector<ModuleFile>& files) {
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const auto& f : files) out.push_back(f.name);
  return out;
}

ModuleIndex Index() {
  auto index = ModuleIndex::Parse(kModulesDep, kBuiltin);
  EXPECT_TRUE(index.ok()) << index.error().message();
  return *index;
}

TEST(KernelInfoTest, FlavourFromVersionAnd9pFromModules) {
  EXPECT_EQ(KernelFlavourOf("6.1.0-57-cloud-amd64"), "cloud");
  EXPECT_EQ(KernelFlavourOf("6.1.0-57-amd64"), "generic");
  EXPECT_EQ(KernelFlavourOf("6.8.0-custom"), "");
  EXPECT_EQ(KernelMetaPackage("generic"), "linux-image-amd64");
  EXPECT_EQ(KernelMetaPackage("cloud"), "linux-image-cloud-amd64");
  EXPECT_TRUE(ValidateKernelFlavour("generic").ok());
  EXPECT_FALSE(ValidateKernelFlavour("rt").ok());
  EXPECT_FALSE(KernelHas9p(Index()));
  auto with_9p = ModuleIndex::Parse(std::string(kModulesDep) +
                                        "kernel/net/9p/9pnet.ko:\n"
                                        "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\n",
                                    "kernel/fs/9p/9p.ko\n");
  ASSERT_TRUE(with_9p.ok());
  EXPECT_TRUE(KernelHas9p(*with_9p));  // 9p built in, 9pnet_virtio a module
}

TEST(ModuleNameTest, StripsDirectorySuffixAndFoldsDashes) {
  EXPECT_EQ(ModuleName("kernel/drivers/virtio/virtio_mmio.ko"), "virtio_mmio");
  EXPECT_EQ(ModuleName("kernel/arch/x86/crypto/crc32c-intel.ko.xz"), "crc32c_intel");
  EXPECT_EQ(ModuleName("foo.ko.zst"), "foo");
  EXPECT_EQ(ModuleName("crc32c-intel"), "crc32c_intel");
}

TEST(ModuleIndexTest, DependenciesComeFirstAndEachModuleOnce) {
  auto files = Index().Resolve(InitramfsModuleRoots());
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_THAT(Names(*files),
              ElementsAre("virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "failover", "net_failover",
                          "virtio_net", "virtio_console", "vsock", "vmw_vsock_virtio_transport_common",
                          "vmw_vsock_virtio_transport", "overlay", "button", "evdev"));
  EXPECT_EQ(files->front().path, "kernel/drivers/virtio/virtio_ring.ko");
}

TEST(ModuleIndexTest, EveryModuleFollowsAllOfItsDependencies) {
  ModuleIndex index = Index();
  auto files = index.Resolve({"vmw_vsock_virtio_transport", "virtio_net"});
  ASSERT_TRUE(files.ok()) << files.error().message();
  std::vector<std::string> names = Names(*files);
  auto pos = [&names](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  EXPECT_LT(pos("vsock"), pos("vmw_vsock_virtio_transport_common"));
  EXPECT_LT(pos("vmw_vsock_virtio_transport_common"), pos("vmw_vsock_virtio_transport"));
  EXPECT_LT(pos("virtio_ring"), pos("virtio"));
  EXPECT_LT(pos("failover"), pos("net_failover"));
  EXPECT_LT(pos("net_failover"), pos("virtio_net"));
  EXPECT_EQ(names.size(), 8u);
}

TEST(ModuleIndexTest, BuiltinRootIsAcceptedAndSkipped) {
  auto files = Index().Resolve({"ext4", "overlay"});
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_THAT(Names(*files), ElementsAre("overlay"));
}

TEST(ModuleIndexTest, MissingRootIsNamed) {
  auto files = Index().Resolve({"virtio_blk", "no_such_mod"});
  ASSERT_FALSE(files.ok());
  EXPECT_THAT(files.error().message(), HasSubstr("no_such_mod"));
}

// Indexes that parse but from which module a cannot be resolved, and what
// the error says: a missing dependency is named with its user; a cycle is an
// error.
TEST(ModuleIndexTest, MissingDependencyOrCycleIsAnError) {
  struct Case {
    const char* modules_dep;
    std::vector<const char*> says;
  };
  const Case cases[] = {
      {"kernel/a.ko: kernel/b.ko\n", {"needed by a", "module b "}},
      {"kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n", {"cycle"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.modules_dep);
    auto index = ModuleIndex::Parse(c.modules_dep, "");
    ASSERT_TRUE(index.ok());
    auto files = index->Resolve({"a"});
    ASSERT_FALSE(files.ok());
    for (const char* text : c.says) EXPECT_THAT(files.error().message(), HasSubstr(text));
  }
}

TEST(ModuleIndexTest, MalformedLineIsNamed) {
  auto index = ModuleIndex::Parse("kernel/a.ko:\nthis line has no colon\n", "");
  ASSERT_FALSE(index.ok());
  EXPECT_THAT(index.error().message(), HasSubstr("line 2"));
}

TEST(ModuleIndexTest, DashedNamesMatchUnderscores) {
  ModuleIndex index = Index();
  EXPECT_TRUE(index.HasModule("crc32c-intel"));
  EXPECT_TRUE(index.IsBuiltin("ext4"));
  auto files = index.Resolve({"crc32c_intel"});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->at(0).path, "kernel/arch/x86/crypto/crc32c-intel.ko.xz");
}

}  // namespace
}  // namespace banger
