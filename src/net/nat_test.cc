#include "net/nat.h"

#include <gtest/gtest.h>

#include "net/testing/fake_net_ops.h"

namespace banger {
namespace {

using testing::FakeNetOps;

int RulesOf(FakeNetOps& ops, const std::string& vm) {
  auto t = ops.Table("ip", "banger");
  if (!t) return 0;
  int n = 0;
  for (const auto& r : t->rules) n += r.comment == "banger-vm:" + vm;
  return n;
}

TEST(NatTest, EnableCreatesTableRulesAndIpForward) {
  FakeNetOps ops;
  Nat nat(ops);
  EXPECT_FALSE(ops.ip_forward());
  ASSERT_TRUE(nat.Enable("vm1", "172.16.0.2", "br-fc", "24").ok());
  auto t = ops.Table("ip", "banger");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->chains, (std::vector<std::string>{"postrouting", "vm_forward", "forward"}));
  EXPECT_EQ(RulesOf(ops, "vm1"), 3);
  EXPECT_TRUE(ops.ip_forward());
  bool masq = false;
  for (const auto& r : t->rules) {
    if (r.chain == "postrouting") {
      masq = true;
      EXPECT_EQ(r.text,
                "ip saddr 172.16.0.2 ip daddr != 172.16.0.0/24 oifname != \"br-fc\" masquerade comment "
                "\"banger-vm:vm1\"");
    }
  }
  EXPECT_TRUE(masq);
  EXPECT_EQ(*nat.ListVmIds(), std::set<std::string>{"vm1"});
}

TEST(NatTest, IpForwardOnlyWhenNeeded) {
  FakeNetOps ops;
  Nat nat(ops);
  ASSERT_TRUE(nat.Disable("vm1").ok());
  EXPECT_TRUE(nat.ListVmIds()->empty());
  for (const auto& c : ops.Calls()) EXPECT_EQ(c.find("SetIpForward"), std::string::npos) << c;
  ASSERT_TRUE(ops.SetIpForward(true).ok());
  ops.ClearCalls();
  ASSERT_TRUE(nat.Enable("vm1", "172.16.0.2", "br-fc", "24").ok());
  for (const auto& c : ops.Calls()) EXPECT_EQ(c.find("SetIpForward"), std::string::npos) << c;
}

TEST(NatTest, PerVmRemovalAndTableGoesWithTheLast) {
  FakeNetOps ops;
  Nat nat(ops);
  ASSERT_TRUE(nat.Enable("vm1", "172.16.0.2", "br-fc", "24").ok());
  ASSERT_TRUE(nat.Enable("vm2", "172.16.0.3", "br-fc", "24").ok());
  EXPECT_EQ(*nat.ListVmIds(), (std::set<std::string>{"vm1", "vm2"}));
  ASSERT_TRUE(nat.Disable("vm1").ok());
  EXPECT_EQ(RulesOf(ops, "vm1"), 0);
  EXPECT_EQ(RulesOf(ops, "vm2"), 3);
  EXPECT_EQ(*nat.ListVmIds(), std::set<std::string>{"vm2"});
  ASSERT_TRUE(nat.Disable("vm1").ok());  // again: nothing to do
  ASSERT_TRUE(nat.Disable("vm2").ok());
  EXPECT_FALSE(ops.Table("ip", "banger"));
  EXPECT_TRUE(nat.ListVmIds()->empty());
}

TEST(NatTest, EnableTwiceReplacesRules) {
  FakeNetOps ops;
  Nat nat(ops);
  ASSERT_TRUE(nat.Enable("vm1", "172.16.0.2", "br-fc", "24").ok());
  ASSERT_TRUE(nat.Enable("vm1", "172.16.0.7", "br-fc", "24").ok());
  EXPECT_EQ(RulesOf(ops, "vm1"), 3);
  auto table = ops.Table("ip", "banger");
  ASSERT_TRUE(table);
  for (const auto& r : table->rules) {
    if (r.comment == "banger-vm:vm1") {
      EXPECT_NE(r.text.find("172.16.0.7"), std::string::npos) << r.text;
    }
  }
}

TEST(NatTest, RejectsBadInputBeforeTouchingAnything) {
  FakeNetOps ops;
  Nat nat(ops);
  EXPECT_FALSE(nat.Enable("vm\"1", "172.16.0.2", "br-fc", "24").ok());
  EXPECT_FALSE(nat.Enable("vm1", "172.16.0", "br-fc", "24").ok());
  EXPECT_FALSE(nat.Enable("vm1", "172.16.0.2", "br fc", "24").ok());
  EXPECT_FALSE(nat.Enable("vm1", "172.16.0.2", "br-fc", "x").ok());
  EXPECT_TRUE(ops.Calls().empty());
}

TEST(NatTest, FailedApplyLeavesStateAndReportsContext) {
  FakeNetOps ops;
  Nat nat(ops);
  ops.FailNext("NftApply",
               Error::Unavailable("nft: not found in PATH (install the Debian package nftables)"));
  Status st = nat.Enable("vm1", "172.16.0.2", "br-fc", "24");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("enabling NAT for vm vm1: nft"), std::string::npos)
      << st.error().message();
  EXPECT_FALSE(ops.Table("ip", "banger"));
  EXPECT_FALSE(ops.ip_forward());
}

TEST(NatTest, ParseRulesReadsCommentsAndHandles) {
  const char* json = R"({"nftables": [{"metainfo": {"version": "1.0.6"}},
    {"table": {"family": "ip", "name": "banger", "handle": 1}},
    {"chain": {"family": "ip", "table": "banger", "name": "postrouting", "handle": 1}},
    {"rule": {"family": "ip", "table": "banger", "chain": "postrouting", "handle": 6, "comment": "banger-vm:abc", "expr": []}},
    {"rule": {"family": "ip", "table": "banger", "chain": "forward", "handle": 4, "expr": [{"jump": {"target": "vm_forward"}}]}},
    {"rule": {"family": "ip", "table": "banger", "chain": "forward", "handle": 5, "comment": "banger:base", "expr": []}}]})";
  auto r = Nat::ParseRules(json);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].vm_id, "abc");
  EXPECT_EQ((*r)[0].handle, 6);
  EXPECT_EQ((*r)[0].chain, "postrouting");
  EXPECT_EQ((*r)[1].vm_id, "");
  EXPECT_EQ((*r)[2].vm_id, "");
  EXPECT_FALSE(Nat::ParseRules("{}").ok());
}

}  // namespace
}  // namespace banger
