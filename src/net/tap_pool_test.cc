#include "net/tap_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "net/testing/fake_net_ops.h"

namespace banger {
namespace {

using testing::FakeNetOps;

class TapPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { ops_.AddLink({"br-fc", "bridge", "", true, {"172.16.0.1/24"}}); }
  std::vector<std::string> Taps() {
    std::vector<std::string> out;
    for (const auto& n : ops_.LinkNames()) {
      if (n.rfind("bgtap", 0) == 0) out.push_back(n);
    }
    return out;
  }
  FakeNetOps ops_;
};

TEST_F(TapPoolTest, FillCreatesAttachedUpTaps) {
  TapPool pool(ops_, "br-fc", 3);
  ASSERT_TRUE(pool.Fill().ok());
  EXPECT_EQ(pool.FreeTaps(), (std::vector<std::string>{"bgtap0", "bgtap1", "bgtap2"}));
  for (const auto& n : Taps()) {
    auto l = ops_.Link(n);
    EXPECT_EQ(l->kind, "tap");
    EXPECT_EQ(l->master, "br-fc");
    EXPECT_TRUE(l->up);
  }
  ASSERT_TRUE(pool.Fill().ok());  // idempotent
  EXPECT_EQ(Taps().size(), 3u);
}

TEST_F(TapPoolTest, TapsAreMadeForTheOwnerAndRemadeWhenOwnedByAnother) {
  TapPool pool(ops_, "br-fc", 2, TapPool::kDefaultPrefix, TapPool::Owner{"banger-vmm", 999});
  ASSERT_TRUE(pool.Fill().ok());
  for (const auto& n : Taps()) EXPECT_EQ(ops_.Link(n)->tap_user, "999");
  // After a restart: bgtap0 was made root-only (vmm_user was "root"), bgtap1
  // shows the owner's name as iproute2 prints it. Only bgtap0 is made again.
  ops_.AddLink({"bgtap0", "tap", "br-fc", true, {}});
  LinkInfo named{"bgtap1", "tap", "br-fc", true, {}};
  named.tap_user = "banger-vmm";
  ops_.AddLink(named);
  TapPool p2(ops_, "br-fc", 2, TapPool::kDefaultPrefix, TapPool::Owner{"banger-vmm", 999});
  ASSERT_TRUE(p2.Reconcile({}).ok());
  EXPECT_EQ(ops_.Link("bgtap0")->tap_user, "999");
  EXPECT_EQ(ops_.Link("bgtap1")->tap_user, "banger-vmm");
  auto calls = ops_.Calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "CreateTap bgtap0 user 999"), 2);
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "CreateTap bgtap1 user 999"), 1);
  // Without an owner (VMMs as root), an owned tap is made root-only again.
  TapPool p3(ops_, "br-fc", 2);
  ASSERT_TRUE(p3.Reconcile({}).ok());
  EXPECT_EQ(ops_.Link("bgtap0")->tap_user, "");
}

TEST_F(TapPoolTest, AcquireReleaseKeepsPoolSize) {
  TapPool pool(ops_, "br-fc", 2);
  ASSERT_TRUE(pool.Fill().ok());
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  auto c = pool.Acquire();  // pool empty: a new one
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, "bgtap0");
  EXPECT_EQ(*b, "bgtap1");
  EXPECT_EQ(*c, "bgtap2");
  EXPECT_TRUE(pool.FreeTaps().empty());
  EXPECT_EQ(pool.InUse().size(), 3u);

  ASSERT_TRUE(pool.Release(*b).ok());
  ASSERT_TRUE(pool.Release(*a).ok());
  ASSERT_TRUE(pool.Release(*c).ok());  // beyond the pool size: deleted
  EXPECT_EQ(pool.FreeTaps(), (std::vector<std::string>{"bgtap1", "bgtap0"}));
  EXPECT_EQ(Taps(), (std::vector<std::string>{"bgtap0", "bgtap1"}));
  EXPECT_TRUE(pool.InUse().empty());
  EXPECT_TRUE(pool.Release("bgtap0").ok());  // twice is harmless
  EXPECT_FALSE(pool.Release("eth0").ok());
}

TEST_F(TapPoolTest, SizeZeroCreatesAndDeletesOnDemand) {
  TapPool pool(ops_, "br-fc", 0);
  ASSERT_TRUE(pool.Fill().ok());
  EXPECT_TRUE(Taps().empty());
  auto a = pool.Acquire();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Taps().size(), 1u);
  ASSERT_TRUE(pool.Release(*a).ok());
  EXPECT_TRUE(Taps().empty());
}

TEST_F(TapPoolTest, AcquireRepairsADamagedPooledTap) {
  TapPool pool(ops_, "br-fc", 1);
  ASSERT_TRUE(pool.Fill().ok());
  ASSERT_TRUE(ops_.DeleteLink("bgtap0").ok());  // removed behind our back
  auto a = pool.Acquire();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "bgtap0");
  EXPECT_EQ(ops_.Link("bgtap0")->master, "br-fc");
}

TEST_F(TapPoolTest, ReleaseReattachesADetachedTap) {
  TapPool pool(ops_, "br-fc", 1);
  auto a = pool.Acquire();
  ASSERT_TRUE(a.ok());
  ops_.AddLink({*a, "tap", "", false, {}});  // detached and down
  ASSERT_TRUE(pool.Release(*a).ok());
  EXPECT_EQ(ops_.Link(*a)->master, "br-fc");
  EXPECT_TRUE(ops_.Link(*a)->up);
}

TEST_F(TapPoolTest, FailedCreationLeavesNothing) {
  TapPool pool(ops_, "br-fc", 1);
  ops_.FailNext("SetMaster", Error::Internal("boom"));
  EXPECT_FALSE(pool.Fill().ok());
  EXPECT_TRUE(Taps().empty());
  EXPECT_TRUE(pool.FreeTaps().empty());
  ASSERT_TRUE(pool.Fill().ok());
  EXPECT_EQ(pool.FreeTaps(), std::vector<std::string>{"bgtap0"});
}

TEST_F(TapPoolTest, SkipsNamesHeldBySomethingElse) {
  ops_.AddLink({"bgtap0", "veth", "", true, {}});
  TapPool pool(ops_, "br-fc", 1);
  auto a = pool.Acquire();
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(*a, "bgtap1");
  EXPECT_EQ(ops_.Link("bgtap0")->kind, "veth");
}

TEST_F(TapPoolTest, ReconcileKeepsInUseAdoptsAndDeletesOrphans) {
  // After a daemon restart: bgtap1 and bgtap5 belong to running VMs; the
  // rest are left over. Pool size 2.
  for (const char* n : {"bgtap0", "bgtap1", "bgtap2", "bgtap3", "bgtap5"}) {
    ops_.AddLink({n, "tap", "br-fc", true, {}});
  }
  ops_.AddLink({"bgtap4", "tap", "", false, {}});  // detached: adopted after repair or deleted
  ops_.AddLink({"bgtapx", "tap", "", false, {}});  // not a pool name: left alone
  ops_.AddLink({"bgtap6", "veth", "", true, {}});  // not a tap: left alone, name skipped
  TapPool pool(ops_, "br-fc", 2);
  ASSERT_TRUE(pool.Reconcile({"bgtap1", "bgtap5"}).ok());
  EXPECT_EQ(pool.InUse(), (std::set<std::string>{"bgtap1", "bgtap5"}));
  EXPECT_EQ(pool.FreeTaps().size(), 2u);
  EXPECT_EQ(Taps().size(), 6u);  // 2 in use + 2 free + bgtapx + the veth
  EXPECT_TRUE(ops_.Link("bgtap1") && ops_.Link("bgtap5") && ops_.Link("bgtapx") && ops_.Link("bgtap6"));
  for (const auto& n : pool.FreeTaps()) EXPECT_EQ(ops_.Link(n)->master, "br-fc");
  // New taps skip every taken name.
  std::set<std::string> got;
  for (int i = 0; i < 5; ++i) got.insert(*pool.Acquire());
  EXPECT_EQ(got.count("bgtap6"), 0u);
  EXPECT_EQ(ops_.Link("bgtap6")->kind, "veth");

  // A new pool with none in use and no leftovers refills to size.
  FakeNetOps fresh;
  fresh.AddLink({"br-fc", "bridge", "", true, {}});
  TapPool p2(fresh, "br-fc", 3);
  ASSERT_TRUE(p2.Reconcile({}).ok());
  EXPECT_EQ(p2.FreeTaps().size(), 3u);
}

TEST_F(TapPoolTest, APooledTapThatCannotBeRepairedIsReplaced) {
  TapPool pool(ops_, "br-fc", 1);
  ASSERT_TRUE(pool.Fill().ok());
  ops_.AddLink({"bgtap0", "tap", "", false, {}});  // detached behind our back
  ops_.FailNext("SetMaster", Error::Internal("boom"));
  auto a = pool.Acquire();
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(*a, "bgtap0") << "the name was freed, not avoided";
  ASSERT_TRUE(ops_.Link("bgtap0"));
  EXPECT_EQ(ops_.Link("bgtap0")->master, "br-fc");
  EXPECT_EQ(Taps().size(), 1u);
}

TEST_F(TapPoolTest, ConcurrentAcquireReleaseHandsOutDistinctTaps) {
  TapPool pool(ops_, "br-fc", 4);
  ASSERT_TRUE(pool.Fill().ok());
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::mutex mu;
  std::set<std::string> seen_twice;
  std::set<std::string> held;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto a = pool.Acquire();
        ASSERT_TRUE(a.ok()) << a.error().message();
        {
          std::lock_guard<std::mutex> lk(mu);
          if (!held.insert(*a).second) seen_twice.insert(*a);
        }
        {
          std::lock_guard<std::mutex> lk(mu);
          held.erase(*a);
        }
        ASSERT_TRUE(pool.Release(*a).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(seen_twice.empty());
  EXPECT_TRUE(pool.InUse().empty());
  EXPECT_EQ(pool.FreeTaps().size(), 4u);
  EXPECT_EQ(Taps().size(), 4u);
}

}  // namespace
}  // namespace banger
