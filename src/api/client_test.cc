#include "api/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/fs.h"

namespace banger {
namespace {

// A home in a temp dir with a fake daemon (a HttpServer) on its socket.
class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-client-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    home_.root = tmpl;
    // Any attempt to start a daemon must show: this path does not exist.
    ::setenv("BANGER_BANGERD", (home_.root + "/no-such-bangerd").c_str(), 1);
  }
  void TearDown() override {
    StopServer();
    ::unsetenv("BANGER_BANGERD");
    std::filesystem::remove_all(home_.root);
  }
  void Serve(const HttpHandler& h) {
    auto s = HttpServer::ListenUnix(home_.Socket(), 0600);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    thread_ = std::thread([this, h] { server_->Serve(h); });
  }
  void StopServer() {
    if (server_) server_->Shutdown();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  // A fake bangerd: a shell script with the given body.
  void FakeBangerd(const std::string& body) {
    std::string path = home_.root + "/fake-bangerd";
    ASSERT_TRUE(WriteFileAtomic(path, "#!/bin/sh\n" + body + "\n", 0755).ok());
    ::setenv("BANGER_BANGERD", path.c_str(), 1);
  }
  ApiClient Client() { return ApiClient(home_, ""); }

  static HttpResponse Json200(const Json& j) {
    HttpResponse r;
    r.body = j.dump();
    return r;
  }
  static HttpResponse Ping() { return Json200({{"version", "0.1.0"}, {"api", 1}, {"pid", ::getpid()}}); }

  HomeLayout home_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST(ErrorMappingTest, CodesMapToKinds) {
  EXPECT_EQ(ErrorKindFromCode("invalid_argument"), ErrorKind::kInvalidArgument);
  EXPECT_EQ(ErrorKindFromCode("not_found"), ErrorKind::kNotFound);
  EXPECT_EQ(ErrorKindFromCode("conflict"), ErrorKind::kConflict);
  EXPECT_EQ(ErrorKindFromCode("unavailable"), ErrorKind::kUnavailable);
  EXPECT_EQ(ErrorKindFromCode("timeout"), ErrorKind::kTimeout);
  EXPECT_EQ(ErrorKindFromCode("internal"), ErrorKind::kInternal);
  EXPECT_EQ(ErrorKindFromCode("something_new"), ErrorKind::kInternal);
}

TEST(ErrorMappingTest, ApiErrorBodyGivesKindAndMessageUnchanged) {
  HttpResponse r;
  r.status = 404;
  r.body = R"({"error":{"code":"not_found","message":"vm \"web\" not found"}})";
  Error e = ErrorFromResponse(r);
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_EQ(e.message(), "vm \"web\" not found");
}

TEST(ErrorMappingTest, OtherBodiesAreDescribedByStatus) {
  HttpResponse r;
  r.status = 409;
  r.body = "busy\nmore";
  Error e = ErrorFromResponse(r);
  EXPECT_EQ(e.kind(), ErrorKind::kConflict);
  EXPECT_EQ(e.message(), "bangerd answered HTTP 409: busy");
  r.status = 502;
  r.body = "";
  EXPECT_EQ(ErrorFromResponse(r).message(), "bangerd answered HTTP 502");
  EXPECT_EQ(ErrorFromResponse(r).kind(), ErrorKind::kInternal);
}

TEST_F(ApiClientTest, CallReturnsJsonAndSendsBody) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/ping") return Ping();
    return Json200({{"method", r.method}, {"target", r.target}, {"body", r.body}});
  });
  auto c = Client();
  Json body = {{"name", "web"}};
  auto r = c.Call("POST", "/v1/vms?x=1", &body);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)["method"], "POST");
  EXPECT_EQ((*r)["target"], "/v1/vms?x=1");
  EXPECT_EQ(Json::parse((*r)["body"].get<std::string>()), body);
}

TEST_F(ApiClientTest, ErrorAnswerBecomesError) {
  Serve([](const HttpRequest&) {
    HttpResponse r;
    r.status = 409;
    r.body = R"({"error":{"code":"conflict","message":"image \"base\" is used by vm \"web\""}})";
    return r;
  });
  auto r = Client().Call("DELETE", "/v1/images/base");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(r.error().message(), "image \"base\" is used by vm \"web\"");
}

TEST_F(ApiClientTest, EmptySuccessBodyIsEmptyObject) {
  Serve([](const HttpRequest&) {
    HttpResponse r;
    r.status = 202;
    return r;
  });
  auto r = Client().Call("POST", "/v1/daemon/stop");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, Json::object());
}

TEST_F(ApiClientTest, NoDaemonIsUnavailable) {
  auto r = Client().Ping();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kUnavailable);
}

TEST_F(ApiClientTest, EnsureDaemonDoesNotStartOneWhenTheSocketAnswers) {
  int pings = 0;
  Serve([&](const HttpRequest& r) {
    if (r.Path() == "/v1/ping") ++pings;
    return Ping();
  });
  // BANGER_BANGERD names a missing file: a start attempt would fail.
  auto st = Client().EnsureDaemon();
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(pings, 1);
  EXPECT_FALSE(PathExists(home_.DaemonOut()));
}

TEST_F(ApiClientTest, EnsureDaemonReportsAMissingBangerd) {
  auto st = Client().EnsureDaemon();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("BANGER_BANGERD"), std::string::npos) << st.error().message();
}

TEST_F(ApiClientTest, EnsureDaemonReportsWhyBangerdDied) {
  ASSERT_TRUE(WriteFileAtomic(home_.DaemonOut(), "old run: fine\n").ok());
  FakeBangerd(
      "echo \"args: $*\"; echo '[2026-01-01 10:00:00.000] [error] config.toml: unknown key \"colour\"' >&2; "
      "exit 1");
  auto c = ApiClient(home_, "/etc/banger.toml");
  auto st = c.EnsureDaemon();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "bangerd failed to start: config.toml: unknown key \"colour\"");
  auto out = ReadFile(home_.DaemonOut());
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->find("args: --home " + home_.root + " --config /etc/banger.toml"), std::string::npos)
      << *out;
}

TEST_F(ApiClientTest, EnsureDaemonSilentDeathPointsAtTheOutputFile) {
  FakeBangerd("exit 3");
  auto st = Client().EnsureDaemon();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find(home_.DaemonOut()), std::string::npos) << st.error().message();
}

TEST_F(ApiClientTest, EnsureDaemonCreatesTheHome) {
  std::filesystem::remove_all(home_.root);
  ::setenv("BANGER_BANGERD", "/bin/false", 1);
  auto st = Client().EnsureDaemon();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(IsDirectory(home_.root));
}

// Two CLIs racing: ours starts a bangerd that loses the home's lock to the
// other one's and exits; the winner answers a little later.
TEST_F(ApiClientTest, EnsureDaemonWaitsForTheDaemonThatWonTheLock) {
  auto lock = FileLock::TryAcquire(home_.LockFile());
  ASSERT_TRUE(lock.ok()) << lock.error().message();
  FakeBangerd("echo 'another bangerd holds the lock'; exit 1");
  std::thread winner([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    Serve([](const HttpRequest&) { return Ping(); });
  });
  auto st = Client().EnsureDaemon();
  winner.join();
  EXPECT_TRUE(st.ok()) << st.error().message();
}

TEST_F(ApiClientTest, StopDaemonWithoutDaemonIsANoOp) {
  FakeBangerd("touch " + home_.root + "/started; exit 1");
  auto st = Client().StopDaemon();
  EXPECT_TRUE(st.ok()) << st.error().message();
  EXPECT_FALSE(PathExists(home_.root + "/started"));
}

TEST_F(ApiClientTest, StopDaemonAsksAndWaitsUntilItStopsAnswering) {
  std::atomic<bool> asked{false};
  Serve([&](const HttpRequest& r) {
    if (r.Path() == "/v1/daemon/stop") {
      asked = true;
      HttpResponse resp;
      resp.status = 202;
      resp.body = "{}";
      return resp;
    }
    // Our own pid would never die: a ping without one waits for the socket only.
    return Json200({{"version", "0.1.0"}});
  });
  std::thread stopper([&] {
    while (!asked) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server_->Shutdown();
  });
  auto st = Client().StopDaemon();
  stopper.join();
  EXPECT_TRUE(st.ok()) << st.error().message();
  EXPECT_TRUE(asked);
}

TEST_F(ApiClientTest, FileLockHeldSeesAnotherHolder) {
  std::string path = home_.root + "/x.lock";
  EXPECT_FALSE(FileLockHeld(path));  // missing
  ASSERT_TRUE(WriteFileAtomic(path, "").ok());
  EXPECT_FALSE(FileLockHeld(path));
  {
    auto lock = FileLock::TryAcquire(path);
    ASSERT_TRUE(lock.ok());
    EXPECT_TRUE(FileLockHeld(path));
  }
  EXPECT_FALSE(FileLockHeld(path));
}

TEST_F(ApiClientTest, FindBangerdHonoursTheEnvironment) {
  ::setenv("BANGER_BANGERD", "/bin/true", 1);
  auto r = FindBangerd();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, "/bin/true");
}

}  // namespace
}  // namespace banger
