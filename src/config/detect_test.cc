// Backend and accelerator auto-detection (ResolveBackend, ResolveQemuAccel)
// against every kind of host, answered by fake probes: is the Firecracker
// binary there, is qemu there, does /dev/kvm open, is the host itself a VM.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/config.h"

namespace banger {
namespace {

struct FakeHost {
  bool firecracker = false;
  bool qemu = false;
  bool kvm = false;
  bool nested = false;
  // Every binary the detection asked about, and how often each probe ran.
  std::multiset<std::string> asked;
  int kvm_calls = 0;
  int nested_calls = 0;

  HostProbes Probes(const DaemonConfig& c) {
    return HostProbes{
        .executable_found =
            [this, c](const std::string& bin) {
              asked.insert(bin);
              if (bin == c.firecracker_bin) return firecracker;
              if (bin == c.qemu_bin) return qemu;
              return false;
            },
        .kvm_usable =
            [this] {
              ++kvm_calls;
              return kvm;
            },
        .under_hypervisor =
            [this] {
              ++nested_calls;
              return nested;
            },
    };
  }
};

std::string Describe(const FakeHost& h) {
  return std::string("firecracker=") + (h.firecracker ? "yes" : "no") + " qemu=" + (h.qemu ? "yes" : "no") +
         " kvm=" + (h.kvm ? "usable" : "no") + " host=" + (h.nested ? "a VM" : "bare metal");
}

// All 16 hosts: auto picks firecracker only with its binary and a KVM that
// can boot guests (usable, not nested); kvm acceleration only with such a
// KVM. Whether qemu is installed changes neither choice.
TEST(DetectTest, EveryCombinationOfProbes) {
  DaemonConfig c;  // backend and qemu_accel unset = auto
  c.firecracker_bin = "/opt/fc/firecracker";
  c.qemu_bin = "/opt/qemu/qemu-system-x86_64";
  int firecracker_hosts = 0;
  for (int bits = 0; bits < 16; ++bits) {
    FakeHost h{.firecracker = (bits & 1) != 0,
               .qemu = (bits & 2) != 0,
               .kvm = (bits & 4) != 0,
               .nested = (bits & 8) != 0};
    HostProbes p = h.Probes(c);
    bool guest_kvm = h.kvm && !h.nested;
    BackendKind want_backend = h.firecracker && guest_kvm ? BackendKind::kFirecracker : BackendKind::kQemu;
    EXPECT_EQ(ResolveBackend(c, p), want_backend) << Describe(h);
    EXPECT_EQ(ResolveQemuAccel(c, p), guest_kvm ? "kvm" : "tcg") << Describe(h);
    EXPECT_EQ(h.asked.count(c.firecracker_bin), 1u) << "the configured firecracker_bin is what is looked for";
    if (want_backend == BackendKind::kFirecracker) ++firecracker_hosts;
  }
  // Two of the sixteen: firecracker and usable bare-metal KVM, with or without qemu.
  EXPECT_EQ(firecracker_hosts, 2);
}

// Three hosts by name: firecracker found but KVM missing falls back to qemu
// with tcg; nested KVM (the CI case: /dev/kvm opens, but the host is itself a
// VM) is not trusted to boot guests; bare metal with KVM and firecracker gets
// both.
TEST(DetectTest, ThreeNamedHosts) {
  struct Case {
    FakeHost host;
    BackendKind backend;
    const char* accel;
  };
  Case cases[] = {
      {{.firecracker = true, .qemu = true, .kvm = false}, BackendKind::kQemu, "tcg"},
      {{.firecracker = true, .qemu = true, .kvm = true, .nested = true}, BackendKind::kQemu, "tcg"},
      {{.firecracker = true, .qemu = false, .kvm = true, .nested = false}, BackendKind::kFirecracker, "kvm"},
  };
  for (Case& k : cases) {
    DaemonConfig c;
    HostProbes p = k.host.Probes(c);
    EXPECT_EQ(ResolveBackend(c, p), k.backend) << Describe(k.host);
    EXPECT_EQ(ResolveQemuAccel(c, p), k.accel) << Describe(k.host);
  }
}

TEST(DetectTest, ConfiguredValuesWinWithoutProbing) {
  for (int bits = 0; bits < 16; ++bits) {
    FakeHost h{.firecracker = (bits & 1) != 0,
               .qemu = (bits & 2) != 0,
               .kvm = (bits & 4) != 0,
               .nested = (bits & 8) != 0};
    DaemonConfig fc;
    fc.backend = "firecracker";
    fc.qemu_accel = "kvm";
    HostProbes p = h.Probes(fc);
    EXPECT_EQ(ResolveBackend(fc, p), BackendKind::kFirecracker) << Describe(h);
    EXPECT_EQ(ResolveQemuAccel(fc, p), "kvm") << Describe(h);
    DaemonConfig qemu;
    qemu.backend = "qemu";
    qemu.qemu_accel = "tcg";
    EXPECT_EQ(ResolveBackend(qemu, p), BackendKind::kQemu) << Describe(h);
    EXPECT_EQ(ResolveQemuAccel(qemu, p), "tcg") << Describe(h);
    EXPECT_TRUE(h.asked.empty()) << Describe(h);
    EXPECT_EQ(h.kvm_calls, 0) << Describe(h);
    EXPECT_EQ(h.nested_calls, 0) << Describe(h);
  }
}

TEST(DetectTest, ConfiguredFirecrackerBinIsTheOneLookedFor) {
  DaemonConfig c;
  c.firecracker_bin = "/somewhere/else/firecracker";
  FakeHost h{.firecracker = true, .kvm = true};
  // A fake that knows only the default name: the configured path is not found.
  HostProbes p = h.Probes(c);
  p.executable_found = [&](const std::string& bin) {
    h.asked.insert(bin);
    return bin == "firecracker";
  };
  EXPECT_EQ(ResolveBackend(c, p), BackendKind::kQemu);
  EXPECT_EQ(h.asked, std::multiset<std::string>{"/somewhere/else/firecracker"});
}

TEST(DetectTest, RealProbesAnswerOnThisHost) {
  // The real probes are wired (not null) and consistent with each other.
  const HostProbes& p = RealHostProbes();
  ASSERT_TRUE(p.executable_found && p.kvm_usable && p.under_hypervisor);
  EXPECT_TRUE(p.executable_found("sh"));
  EXPECT_FALSE(p.executable_found("/nonexistent/banger-no-such-binary"));
  DaemonConfig c;
  EXPECT_EQ(ResolveQemuAccel(c), p.kvm_usable() && !p.under_hypervisor() ? "kvm" : "tcg");
}

}  // namespace
}  // namespace banger
