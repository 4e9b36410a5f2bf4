// The API router: edge parsing and error mapping, over fakes.
#include "api/server.h"
#include "api/web_ui.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/fs.h"
#include "daemon/fakes.h"
#include "model/json.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/bga-" + std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ + "/vms");
    store_ = std::move(*Store::Open(":memory:"));
    events_ = std::make_unique<EventLog>(*store_);
    VmServiceDeps d;
    d.home = HomeLayout{root_};
    d.config.default_image_name = "base";
    d.store = store_.get();
    d.events = events_.get();
    d.procs = &procs_;
    d.disks = &disks_;
    d.backends = {{BackendKind::kQemu, &qemu_}};
    svc_ = std::make_unique<VmService>(d);
    images_ = std::make_unique<ImageService>(ImageServiceDeps{d.home, d.config, store_.get(), events_.get(), ""});
    sessions_ = std::make_unique<SessionService>(*svc_, *store_, *events_);
    monitor_ = std::make_unique<VmMonitor>(*svc_, *store_, procs_, d.backends);
    workspaces_ = std::make_unique<WorkspaceService>(*svc_, *store_, *events_, root_ + "/tmp");
    router_ = std::make_unique<ApiRouter>(*svc_, *images_, *sessions_, *monitor_, *workspaces_, *events_,
                                          DaemonInfo{"0.1.0", root_, 1, Now(), "qemu", "tcg"},
                                          [this] { stop_requested_ = true; });
    for (const char* f : {"vmlinux", "rootfs.ext4"}) ASSERT_TRUE(WriteFileAtomic(root_ + "/" + f, "x").ok());
  }
  void TearDown() override { fs::remove_all(root_); }

  HttpResponse Call(const std::string& method, const std::string& target, const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    return router_->Handle(r);
  }
  Json Body(const HttpResponse& r) { return Json::parse(r.body); }
  void ImportBase() {
    auto r = Call("POST", "/v1/images",
                  Json{{"name", "base"}, {"kernel_path", root_ + "/vmlinux"}, {"rootfs_path", root_ + "/rootfs.ext4"}}
                      .dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string root_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLog> events_;
  testing::FakeProcs procs_;
  testing::FakeDisks disks_;
  testing::FakeBackend qemu_{BackendKind::kQemu, procs_};
  std::unique_ptr<VmService> svc_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<SessionService> sessions_;
  std::unique_ptr<VmMonitor> monitor_;
  std::unique_ptr<WorkspaceService> workspaces_;
  std::unique_ptr<ApiRouter> router_;
  bool stop_requested_ = false;
};

TEST_F(ApiTest, PingReportsDaemon) {
  auto r = Call("GET", "/v1/ping");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["version"], "0.1.0");
  EXPECT_EQ(Body(r)["vms_total"], 0);
}

TEST_F(ApiTest, MalformedJsonAndUnknownFieldsAre400) {
  auto r = Call("POST", "/v1/vms", "{\"name\":");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["error"]["code"], "invalid_argument");
  auto u = Call("POST", "/v1/vms", R"({"name":"t1","cpus":2})");
  EXPECT_EQ(u.status, 400);
  EXPECT_NE(Body(u)["error"]["message"].get<std::string>().find("unknown field \"cpus\""), std::string::npos);
  auto t = Call("POST", "/v1/vms", R"({"vcpu_count":"2"})");
  EXPECT_EQ(t.status, 400);
  auto a = Call("POST", "/v1/vms", R"([1,2])");
  EXPECT_EQ(a.status, 400);
  EXPECT_TRUE(store_->ListVMs()->empty());
}

TEST_F(ApiTest, UnknownEndpointAndMethod) {
  EXPECT_EQ(Call("GET", "/v2/vms").status, 404);
  EXPECT_EQ(Call("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(Call("PUT", "/v1/vms").status, 400);
}

TEST_F(ApiTest, CreateGetListDelete) {
  ImportBase();
  auto c = Call("POST", "/v1/vms", R"({"name":"t1","vcpu_count":1,"labels":{"team":"infra"}})");
  ASSERT_EQ(c.status, 201) << c.body;
  Json vm = Body(c);
  EXPECT_EQ(vm["state"], "running");
  EXPECT_EQ(vm["spec"]["vcpu_count"], 1);
  EXPECT_TRUE(vm["handles"]["pid"].is_number());
  auto g = Call("GET", "/v1/vms/t1");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(Body(g)["id"], vm["id"]);
  auto prefix = Call("GET", "/v1/vms/" + vm["id"].get<std::string>().substr(0, 10));
  EXPECT_EQ(prefix.status, 200);
  auto l = Call("GET", "/v1/vms?label=team%3Dinfra");
  ASSERT_EQ(l.status, 200);
  EXPECT_EQ(Body(l)["vms"].size(), 1u);
  EXPECT_EQ(Body(Call("GET", "/v1/vms?label=team%3Dweb"))["vms"].size(), 0u);
  EXPECT_EQ(Call("GET", "/v1/vms?label=bad").status, 400);
  auto dup = Call("POST", "/v1/vms", R"({"name":"t1"})");
  EXPECT_EQ(dup.status, 409);
  auto d = Call("DELETE", "/v1/vms/t1");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(Body(d)["deleted"], true);
  EXPECT_EQ(Call("DELETE", "/v1/vms/t1").status, 404);
  auto m = Call("DELETE", "/v1/vms/t1?missing_ok=true");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(Body(m)["deleted"], false);
}

TEST_F(ApiTest, StopTakesDeadline) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"t1"})").status, 201);
  auto s = Call("POST", "/v1/vms/t1/stop", R"({"timeout_ms":2500})");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(Body(s)["state"], "stopped");
  EXPECT_EQ(qemu_.shutdowns.back(), std::chrono::milliseconds(2500));
  EXPECT_EQ(Call("POST", "/v1/vms/t1/stop", R"({"timeout_ms":-1})").status, 400);
}

TEST_F(ApiTest, SetOnRunningIsConflict) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"t1"})").status, 201);
  auto s = Call("PATCH", "/v1/vms/t1", R"({"memory_mib":1024})");
  EXPECT_EQ(s.status, 409);
  EXPECT_NE(Body(s)["error"]["message"].get<std::string>().find("running"), std::string::npos);
}

TEST_F(ApiTest, EventsAreResumable) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"t1","no_start":true})").status, 201);
  auto e = Call("GET", "/v1/events?after=0");
  ASSERT_EQ(e.status, 200);
  Json j = Body(e);
  ASSERT_EQ(j["events"].size(), 2u);
  int64_t last = j["last_seq"];
  ASSERT_EQ(Call("POST", "/v1/vms/t1/start").status, 200);
  Json k = Body(Call("GET", "/v1/events?after=" + std::to_string(last)));
  ASSERT_EQ(k["events"].size(), 1u);
  EXPECT_EQ(k["events"][0]["type"], "vm.state");
  EXPECT_EQ(k["events"][0]["data"]["to"], "running");
  EXPECT_FALSE(k["events"][0]["data"]["boot_id"].get<std::string>().empty());
}

TEST_F(ApiTest, LogsAreRawBytesWithOffsets) {
  ImportBase();
  Json vm = Body(Call("POST", "/v1/vms", R"({"name":"t1"})"));
  ASSERT_TRUE(WriteFileAtomic(vm["runtime"]["log_path"].get<std::string>(), std::string("a\xff\n", 3)).ok());
  auto r = Call("GET", "/v1/vms/t1/logs?offset=1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string("\xff\n", 2));
  EXPECT_EQ(r.headers["X-Banger-Next-Offset"], "3");
  EXPECT_EQ(Call("GET", "/v1/vms/t1/logs?offset=x").status, 400);
}

TEST_F(ApiTest, DaemonStopRequestsShutdown) {
  EXPECT_EQ(Call("POST", "/v1/daemon/stop").status, 202);
  EXPECT_TRUE(stop_requested_);
}

TEST_F(ApiTest, StatsOfARunningVmAndOfAMissingOne) {
  ImportBase();
  auto c = Call("POST", "/v1/vms", R"({"name":"t1"})");
  ASSERT_EQ(c.status, 201) << c.body;
  pid_t pid = Body(c)["handles"]["pid"];
  procs_.SetUsage(pid, ProcUsage{int64_t{1} << 30, 100 << 20, 1 << 30});
  auto r = Call("GET", "/v1/vms/t1/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Body(r);
  EXPECT_EQ(j["name"], "t1");
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["stats"]["rss_bytes"], 100 << 20);
  EXPECT_FALSE(j["stats"]["collected_at"].get<std::string>().empty());
  EXPECT_EQ(Call("POST", "/v1/vms/t1/stats").status, 400) << "method not allowed";
  EXPECT_EQ(Call("GET", "/v1/vms/nope/stats").status, 404);
}

// ---------------- the web UI's listener ----------------

TEST_F(ApiTest, WebUiServesThePageAndGuardsTheApi) {
  ImportBase();
  WebUi web(*router_);
  auto call = [&](const std::string& method, const std::string& target, std::map<std::string, std::string> headers,
                  const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.headers = std::move(headers);
    return web.Handle(r);
  };
  const std::map<std::string, std::string> local{{"host", "127.0.0.1:8080"}};
  auto page = call("GET", "/", local);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>banger</title>"), std::string::npos);
  EXPECT_NE(page.headers["Content-Security-Policy"].find("frame-ancestors 'none'"), std::string::npos);

  // Reads go through; the API's own answers come back.
  auto list = call("GET", "/v1/images", local);
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(Body(list)["images"][0]["name"], "base");
  EXPECT_EQ(call("GET", "/v1/images", {{"host", "[::1]:8080"}}).status, 200);
  EXPECT_EQ(call("GET", "/v1/images", {{"host", "localhost:8080"}}).status, 200);

  // DNS rebinding: a name other than localhost is refused.
  EXPECT_EQ(call("GET", "/v1/images", {{"host", "evil.example:8080"}}).status, 403);
  EXPECT_EQ(call("GET", "/", {{"host", "evil.example"}}).status, 403);
  // Changes need the UI's header, and a matching origin.
  const std::string create = R"({"name":"w1","no_start":true})";
  EXPECT_EQ(call("POST", "/v1/vms", local, create).status, 403);
  EXPECT_FALSE(store_->GetVM("w1").ok());
  auto cross = local;
  cross["x-banger-ui"] = "1";
  cross["origin"] = "http://evil.example";
  EXPECT_EQ(call("POST", "/v1/vms", cross, create).status, 403);
  auto ui = local;
  ui["x-banger-ui"] = "1";
  ui["origin"] = "http://127.0.0.1:8080";
  auto made = call("POST", "/v1/vms", ui, create);
  EXPECT_EQ(made.status, 201) << made.body;
  // The daemon's own lifecycle and streams stay on the Unix socket.
  EXPECT_EQ(call("POST", "/v1/daemon/stop", ui).status, 403);
  EXPECT_FALSE(stop_requested_);
  auto upgraded = ui;
  upgraded["upgrade"] = "banger-stream/1";
  EXPECT_EQ(call("POST", "/v1/vms/w1/exec", upgraded, R"({"argv":["true"]})").status, 400);
  EXPECT_EQ(call("GET", "/favicon.ico", local).status, 404);
}

}  // namespace
}  // namespace banger
