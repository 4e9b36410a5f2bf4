#include "ttrpc/listener.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "base/testing/temp_dir.h"
#include "ttrpc/client.h"
#include "ttrpc/test_util.h"

namespace banger::ttrpc {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace)

void RegisterEcho(TtrpcServer* s) {
  ASSERT_TRUE(
      s->Register("svc", "Echo", [](const CallContext&, const std::string& p) -> RpcResult<std::string> {
         return p;
       }).ok());
}

TEST(UnixListenerTest, ServesClientsAndStops) {
  banger::testing::TempDir dir("ttrpc");
  TtrpcServer server;
  RegisterEcho(&server);
  auto l = UnixListener::Start(dir / "s.sock", &server);
  ASSERT_TRUE(l.ok()) << l.error().message();
  auto a = TtrpcClient::Connect(dir / "s.sock", 2s);
  auto b = TtrpcClient::Connect(dir / "s.sock", 2s);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*(*a)->Call("svc", "Echo", "one", {}, In(5s)), "one");
  EXPECT_EQ(*(*b)->Call("svc", "Echo", "two", {}, In(5s)), "two");
  EXPECT_EQ((*l)->active(), 2u);
  (*l)->Stop();
  struct stat st {};
  EXPECT_NE(::lstat((dir / "s.sock").c_str(), &st), 0);
  EXPECT_FALSE(TtrpcClient::Connect(dir / "s.sock", 1s).ok());
  // The clients see their connections end.
  EXPECT_EQ((*a)->Call("svc", "Echo", "x", {}, In(2s)).code(), Code::kUnavailable);
}

TEST(UnixListenerTest, ConnectionsOverTheLimitAreClosed) {
  banger::testing::TempDir dir("ttrpc");
  TtrpcServer server;
  RegisterEcho(&server);
  auto l = UnixListener::Start(dir / "s.sock", &server, 1);
  ASSERT_TRUE(l.ok());
  auto a = TtrpcClient::Connect(dir / "s.sock", 2s);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE((*a)->Call("svc", "Echo", "x", {}, In(5s)).ok());
  auto b = TtrpcClient::Connect(dir / "s.sock", 2s);
  ASSERT_TRUE(b.ok());  // accepted, then closed at once
  EXPECT_EQ((*b)->Call("svc", "Echo", "x", {}, In(5s)).code(), Code::kUnavailable);
  (*a)->Close();
  // Once the first is gone there is room again.
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    auto c = TtrpcClient::Connect(dir / "s.sock", 2s);
    served = c.ok() && (*c)->Call("svc", "Echo", "x", {}, In(5s)).ok();
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

TEST(UnixListenerTest, ReplacesAStaleSocketButNotAFile) {
  banger::testing::TempDir dir("ttrpc");
  TtrpcServer server;
  {
    auto l = UnixListener::Start(dir / "s.sock", &server);
    ASSERT_TRUE(l.ok());
  }
  std::ofstream(dir / "file") << "data";
  auto bad = UnixListener::Start(dir / "file", &server);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kConflict);
  EXPECT_FALSE(UnixListener::Start(std::string(200, 'x'), &server).ok());
}

}  // namespace
}  // namespace banger::ttrpc
