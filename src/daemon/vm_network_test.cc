// VMs with host networking (on a fake NetOps): address, tap, NAT, DNS.

#include "daemon/testing/vm_service_fixture.h"
#include "net/testing/fake_net_ops.h"

namespace banger {
namespace {

class VmServiceNetTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    if (HasFatalFailure()) return;
    cfg_.default_image_name = "base";
    cfg_.network = "on";
    cfg_.tap_pool_size = 2;
    auto n = VmNetwork::Create(net_, cfg_);
    ASSERT_TRUE(n.ok()) << n.error().message();
    network_ = std::move(*n);
    reconcile_network_ = network_.get();
    svc_ = MakeNetService();
  }
  std::unique_ptr<VmService> MakeNetService() {
    VmServiceDeps d;
    d.home = HomeLayout{root_};
    d.config = cfg_;
    d.store = store_.get();
    d.events = events_.get();
    d.procs = &procs_;
    d.disks = &disks_;
    d.network = network_.get();
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.default_backend = BackendKind::kQemu;
    return std::make_unique<VmService>(d);
  }
  std::string TapOf(const std::string& name) {
    auto v = svc_->Get(name);
    return v.ok() && v->handles ? v->handles->tap_device : "";
  }
  int NatRulesOf(const std::string& vm_id) {
    auto t = net_.Table("ip", "banger");
    if (!t) return 0;
    int n = 0;
    for (const auto& r : t->rules) n += r.comment == "banger-vm:" + vm_id ? 1 : 0;
    return n;
  }
  DaemonConfig cfg_;
  testing::FakeNetOps net_;
  std::unique_ptr<VmNetwork> network_;
};

TEST_F(VmServiceNetTest, AddressTapNatAndTheirReturn) {
  VmRecord a = MustCreate("a");
  VmRecord b = MustCreate("b");
  EXPECT_EQ(a.runtime.guest_ip, "172.16.0.2");
  EXPECT_EQ(b.runtime.guest_ip, "172.16.0.3");
  ASSERT_EQ(qemu_.launches.size(), 2u);
  EXPECT_EQ(qemu_.launches[0].guest_mac, "06:00:ac:10:00:02");
  EXPECT_NE(qemu_.launches[0].kernel_cmdline.find("banger.ip=172.16.0.2/24"), std::string::npos);
  std::string tap_a = TapOf("a");
  ASSERT_FALSE(tap_a.empty());
  EXPECT_EQ(qemu_.launches[0].tap_device, tap_a);
  EXPECT_EQ(net_.Link(tap_a)->master, "br-fc");
  EXPECT_EQ(net_.Link("br-fc")->mac, "0a:00:ac:10:00:01");

  // NAT follows `vm set` live, and only for that VM.
  SetVmRequest on;
  on.nat_enabled = true;
  ASSERT_TRUE(svc_->Set("a", on).ok());
  EXPECT_EQ(NatRulesOf(a.id), 3);
  EXPECT_EQ(NatRulesOf(b.id), 0);
  EXPECT_TRUE(net_.ip_forward());

  // A restarted daemon keeps live VMs' taps and rules.
  svc_ = MakeNetService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(TapOf("a"), tap_a);
  EXPECT_EQ(NatRulesOf(a.id), 3);

  // Stop: the tap goes back (pool of 2), the rules go; the address stays.
  ASSERT_TRUE(svc_->Stop("a", std::nullopt).ok());
  EXPECT_EQ(NatRulesOf(a.id), 0);
  auto taps = [&] {
    int n = 0;
    for (const auto& l : net_.LinkNames()) n += l.rfind("bgtap", 0) == 0 ? 1 : 0;
    return n;
  };
  EXPECT_EQ(taps(), 3) << "b's tap + a full pool of 2 (a's tap was deleted, the pool being full)";
  ASSERT_TRUE(svc_->Start("a").ok());
  EXPECT_EQ(svc_->Get("a")->vm.runtime.guest_ip, "172.16.0.2");
  EXPECT_EQ(NatRulesOf(a.id), 3) << "nat_enabled is durable";

  // Delete both: only the pool's taps and no rule remain; the address is free.
  ASSERT_TRUE(svc_->Delete("a", false).ok());
  ASSERT_TRUE(svc_->Delete("b", false).ok());
  EXPECT_EQ(taps(), 2);
  EXPECT_FALSE(net_.Table("ip", "banger").has_value());
  EXPECT_EQ(MustCreate("c").runtime.guest_ip, "172.16.0.2");
}

TEST_F(VmServiceNetTest, ExhaustedSubnetIsAClearErrorAndMakesNothing) {
  cfg_.cidr = "30";  // 172.16.0.0/30: .1 is the bridge, .2 the only guest address
  auto n = VmNetwork::Create(net_, cfg_);
  ASSERT_TRUE(n.ok());
  network_ = std::move(*n);
  svc_ = MakeNetService();
  MustCreate("a", /*no_start=*/true);
  CreateVmRequest r;
  r.name = "b";
  r.no_start = true;
  auto c = svc_->Create(r);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("172.16.0.0/30"), std::string::npos) << c.error().message();
  EXPECT_FALSE(store_->GetVm("b").ok());
}

}  // namespace
}  // namespace banger
