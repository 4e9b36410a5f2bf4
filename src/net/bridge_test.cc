#include "net/bridge.h"

#include <gtest/gtest.h>

#include "net/testing/fake_net_ops.h"

namespace banger {
namespace {

using testing::FakeNetOps;

TEST(BridgeTest, CreatesAddressesAndUpsThenIsIdempotent) {
  FakeNetOps ops;
  ops.AddRoute({"default", "eth0", "10.0.2.2", ""});
  ops.AddRoute({"10.0.2.0/24", "eth0", "", ""});
  ASSERT_TRUE(Bridge::Ensure(ops, "br-fc", "172.16.0.1", "24").ok());
  auto l = ops.Link("br-fc");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, "bridge");
  EXPECT_TRUE(l->up);
  EXPECT_EQ(l->ipv4, std::vector<std::string>{"172.16.0.1/24"});
  EXPECT_EQ(l->mac, "0a:00:ac:10:00:01");

  // Second time: the bridge's own route does not count as a collision and
  // nothing is changed.
  ops.ClearCalls();
  Status st = Bridge::Ensure(ops, "br-fc", "172.16.0.1", "/24");
  ASSERT_TRUE(st.ok()) << st.error().message();
  for (const auto& c : ops.Calls()) {
    EXPECT_TRUE(c.rfind("GetLink", 0) == 0 || c.rfind("ListRoutes", 0) == 0) << c;
  }
}

TEST(BridgeTest, PinnedMacDoesNotFollowTapsComingAndGoing) {
  // Unpinned, a bridge takes its lowest port address: a new tap with a lower
  // one would move the gateway's MAC under the guests' ARP caches.
  FakeNetOps loose;
  ASSERT_TRUE(loose.CreateBridge("br-x").ok());
  ASSERT_TRUE(loose.CreateTap("t0", "").ok());
  ASSERT_TRUE(loose.SetMaster("t0", "br-x").ok());
  std::string before = loose.Link("br-x")->mac;
  ASSERT_TRUE(loose.CreateTap("t1", "").ok());
  ASSERT_TRUE(loose.SetMaster("t1", "br-x").ok());
  EXPECT_NE(loose.Link("br-x")->mac, before) << "the fake models the kernel's behaviour";

  FakeNetOps ops;
  ASSERT_TRUE(Bridge::Ensure(ops, "br-fc", "172.16.0.1", "24").ok());
  for (const char* t : {"bgtap0", "bgtap1", "bgtap2"}) {
    ASSERT_TRUE(ops.CreateTap(t, "").ok());
    ASSERT_TRUE(ops.SetMaster(t, "br-fc").ok());
    EXPECT_EQ(ops.Link("br-fc")->mac, "0a:00:ac:10:00:01");
  }
  ASSERT_TRUE(ops.DeleteLink("bgtap0").ok());
  EXPECT_EQ(ops.Link("br-fc")->mac, "0a:00:ac:10:00:01");

  // A bridge made before the address was pinned gets it on the next Ensure.
  FakeNetOps old;
  old.AddLink({"br-fc", "bridge", "", true, {"172.16.0.1/24"}, "02:00:00:00:00:07"});
  ASSERT_TRUE(Bridge::Ensure(old, "br-fc", "172.16.0.1", "24").ok());
  EXPECT_EQ(old.Link("br-fc")->mac, "0a:00:ac:10:00:01");
}

TEST(BridgeTest, CompletesAHalfMadeBridge) {
  FakeNetOps ops;
  ops.AddLink({"br-fc", "bridge", "", false, {}});
  ASSERT_TRUE(Bridge::Ensure(ops, "br-fc", "172.16.0.1", "24").ok());
  EXPECT_TRUE(ops.Link("br-fc")->up);
  EXPECT_EQ(ops.Link("br-fc")->ipv4.size(), 1u);
}

TEST(BridgeTest, RefusesANameTakenByANonBridge) {
  FakeNetOps ops;
  ops.AddLink({"br-fc", "veth", "", true, {}});
  Status st = Bridge::Ensure(ops, "br-fc", "172.16.0.1", "24");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConflict);
  const auto& m = st.error().message();
  EXPECT_NE(m.find("bridge name br-fc is taken by a veth link"), std::string::npos) << m;
  EXPECT_NE(m.find("bridge_name"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_EQ(ops.Link("br-fc")->kind, "veth");  // untouched
}

TEST(BridgeTest, RefusesACollidingHostRoute) {
  FakeNetOps ops;
  ops.AddRoute({"default", "eth0", "10.0.2.2", ""});
  ops.AddRoute({"172.16.0.0/16", "eth1", "", ""});
  Status st = Bridge::Ensure(ops, "br-fc", "172.16.0.1", "24");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(st.error().message().find(
                "bridge subnet 172.16.0.0/24 collides with the host route 172.16.0.0/16 on eth1"),
            std::string::npos)
      << st.error().message();
  EXPECT_NE(st.error().message().find("bridge_ip and cidr"), std::string::npos);
  EXPECT_FALSE(ops.Link("br-fc"));  // nothing created

  // A non-overlapping subnet is fine.
  EXPECT_TRUE(Bridge::Ensure(ops, "br-fc", "172.17.0.1", "24").ok());
  EXPECT_TRUE(Bridge::Check(ops, "br-fc", "172.17.0.1", "24").ok());
}

TEST(BridgeTest, BadConfigValuesNameTheKey) {
  FakeNetOps ops;
  EXPECT_NE(Bridge::Ensure(ops, "br fc", "172.16.0.1", "24").error().message().find("bridge_name"),
            std::string::npos);
  EXPECT_NE(Bridge::Ensure(ops, "br-fc", "172.16.0", "24").error().message().find("bridge_ip"),
            std::string::npos);
  EXPECT_NE(Bridge::Ensure(ops, "br-fc", "172.16.0.1", "33").error().message().find("cidr"),
            std::string::npos);
}

TEST(BridgeTest, PermissionErrorsPassThrough) {
  FakeNetOps ops;
  ops.FailNext("CreateBridge",
               Error::Unavailable(std::string("ip link add: Operation not permitted; ") + kNetAdminHint));
  Status st = Bridge::Ensure(ops, "br-fc", "172.16.0.1", "24");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(st.error().message().find("CAP_NET_ADMIN"), std::string::npos);
}

}  // namespace
}  // namespace banger
