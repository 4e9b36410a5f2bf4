// The API router: edge parsing and error mapping, over fakes.
#include "api/server.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "api/web_ui.h"
#include "base/fs.h"
#include "daemon/fakes.h"
#include "daemon/testing/vm_service_fixture.h"
#include "model/json.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

class ApiTest : public DaemonTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStore(":memory:"));
    VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
    d.backends = {{BackendKind::kQemu, &qemu_}};
    svc_ = std::make_unique<VmService>(d);
    images_ =
        std::make_unique<ImageService>(ImageServiceDeps{d.home, d.config, store_.get(), events_.get(), ""});
    sessions_ = std::make_unique<SessionService>(*svc_, *store_, *events_);
    monitor_ = std::make_unique<VmMonitor>(*svc_, *store_, procs_, d.backends);
    workspaces_ = std::make_unique<WorkspaceService>(*svc_, *store_, *events_, root_ + "/tmp");
    DaemonInfo info{"0.1.0", root_, 1, Now(), "qemu", "tcg"};
    info.web_url = "http://127.0.0.1:8080/";
    router_ = std::make_unique<ApiRouter>(
        *svc_, *images_, *sessions_, *monitor_, *workspaces_, *events_, info,
        [this] { stop_requested_ = true; }, &web_auth_);
    auto login = web_auth_.IssueLogin(1000);
    ASSERT_TRUE(login.ok());
    auto session = web_auth_.Redeem(*login);
    ASSERT_TRUE(session.ok());
    session_cookie_ = std::string(kWebSessionCookie) + "=" + *session;
    for (const char* f : {"vmlinux", "rootfs.ext4"}) ASSERT_TRUE(WriteFileAtomic(root_ + "/" + f, "x").ok());
  }
  HttpResponse Call(const std::string& method, const std::string& target, const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    return router_->Handle(r);
  }
  Json Body(const HttpResponse& r) { return Json::parse(r.body); }
  // The same request on the web UI's listener, logged in (a session
  // cookie) unless `headers` has its own "cookie".
  HttpResponse Web(const std::string& method, const std::string& target,
                   std::map<std::string, std::string> headers, const std::string& body = "") {
    WebUi web(*router_, web_auth_);
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.headers = std::move(headers);
    if (!r.headers.count("cookie")) r.headers["cookie"] = "theme=dark; " + session_cookie_;
    return web.Handle(r);
  }
  // A request on the Unix socket from `uid`.
  HttpResponse CallAs(uid_t uid, const std::string& method, const std::string& target) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.peer_uid = uid;
    return router_->Handle(r);
  }
  void ImportBase() {
    auto r = Call(
        "POST", "/v1/images",
        Json{{"name", "base"}, {"kernel_path", root_ + "/vmlinux"}, {"rootfs_path", root_ + "/rootfs.ext4"}}
            .dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::unique_ptr<SessionService> sessions_;
  std::unique_ptr<VmMonitor> monitor_;
  std::unique_ptr<WorkspaceService> workspaces_;
  WebAuth web_auth_;
  std::string session_cookie_;
  std::unique_ptr<ApiRouter> router_;
  bool stop_requested_ = false;
};

TEST_F(ApiTest, PingReportsDaemon) {
  auto r = Call("GET", "/v1/ping");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["version"], "0.1.0");
  EXPECT_EQ(Body(r)["vms_total"], 0);
}

TEST_F(ApiTest, ServesItsOpenApiDocumentOnBothListeners) {
  for (const auto& r :
       {Call("GET", "/v1/openapi.yaml"), Web("GET", "/v1/openapi.yaml", {{"host", "127.0.0.1"}})}) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/yaml");
    EXPECT_EQ(r.body.rfind("openapi: 3.1.0\n", 0), 0u);
    EXPECT_NE(r.body.find("\n  /v1/openapi.yaml:\n"), std::string::npos);
  }
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
  EXPECT_TRUE(store_->ListVms()->empty());
}

TEST_F(ApiTest, GuestFileRoutesCheckTheirInputBeforeTheGuest) {
  // No VM, no guest: everything here is refused at the edge, in one line.
  auto refused = [&](const std::string& method, const std::string& target, int status,
                     const std::string& want) {
    HttpResponse r = Call(method, target, "x");
    EXPECT_EQ(r.status, status) << method << " " << target << ": " << r.body;
    EXPECT_NE(r.body.find(want), std::string::npos) << r.body;
  };
  refused("GET", "/v1/vms/nope/files", 400, "path query parameter is required");
  refused("GET", "/v1/vms/nope/files?path=etc", 400, "must be absolute");
  refused("PUT", "/v1/vms/nope/files?path=/root/x&mode=999", 400, "must be octal");
  refused("PUT", "/v1/vms/nope/files?path=/root/x&chown=1:x", 400, "UID:GID");
  refused("GET", "/v1/vms/nope/files?path=/root", 404, "nope");
  // The archives are streams: a plain request is told so.
  refused("GET", "/v1/vms/nope/archive?path=/root", 400, "is a WebSocket stream");
  refused("GET", "/v1/vms/nope/archive/upload?path=/root", 400, "is a WebSocket stream");
  refused("PUT", "/v1/vms/nope/archive?path=/root", 400, "not allowed");
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

TEST_F(ApiTest, PauseAndResumeRoutes) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"t1","idle_suspend_ms":60000,"ttl_ms":3600000})").status, 201);
  auto p = Call("POST", "/v1/vms/t1/pause");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(Body(p)["state"], "paused");
  EXPECT_EQ(Body(p)["spec"]["idle_suspend_ms"], 60000);
  EXPECT_FALSE(Body(p)["runtime"]["expires_at"].get<std::string>().empty());
  auto again = Call("POST", "/v1/vms/t1/pause", "{}");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Body(again)["error"]["message"], "vm t1 is already paused");
  EXPECT_EQ(Call("POST", "/v1/vms/t1/resume", R"({"x":1})").status, 400);
  auto r = Call("POST", "/v1/vms/t1/resume");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["state"], "running");
  EXPECT_EQ(Call("POST", "/v1/vms/t1/resume").status, 409);
  EXPECT_EQ(Call("POST", "/v1/vms", R"({"name":"t2","ttl_ms":5})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/vms", R"({"name":"t2","ttl_action":"explode"})").status, 400);
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

TEST_F(ApiTest, StatsHistoryOfAVmIsWhatTheStatsPassesSampled) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"t1"})").status, 201);
  auto empty = Call("GET", "/v1/vms/t1/stats/history");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Body(empty)["samples"].size(), 0u);
  procs_.SetUsage(svc_->Get("t1")->handles->pid, ProcUsage{0, 100 << 20, 1LL << 30});
  monitor_->CollectStats();
  monitor_->CollectStats();
  auto r = Call("GET", "/v1/vms/t1/stats/history");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Body(r);
  EXPECT_EQ(j["name"], "t1");
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["max_samples"], 360);
  ASSERT_EQ(j["samples"].size(), 2u);
  const Json& s = j["samples"][1];
  EXPECT_EQ(s["rss_bytes"], 100 << 20);
  EXPECT_EQ(s["disk_bytes"], s["system_overlay_bytes"].get<int64_t>() + s["work_disk_bytes"].get<int64_t>());
  EXPECT_TRUE(ParseRfc3339(s["at"].get<std::string>()).ok());
  EXPECT_TRUE(s.contains("cpu_percent"));
  EXPECT_EQ(Call("GET", "/v1/vms/nope/stats/history").status, 404);
  EXPECT_EQ(Call("POST", "/v1/vms/t1/stats/history").status, 400);
  EXPECT_EQ(Web("GET", "/v1/vms/t1/stats/history", {{"host", "127.0.0.1:8080"}}).status, 200)
      << "the web UI's charts read it";
}

// ---------------- the web UI's listener ----------------

// Found by the http fuzzer (fuzz/http_fuzzer.cc): a refusal quoting a Host
// header with invalid UTF-8 threw from JSON encoding on the connection's
// thread, which ended the daemon. The refusal now stands, with the bytes
// replaced.
TEST_F(ApiTest, WebUiRefusalQuotingInvalidUtf8) {
  auto r = Web("GET", "/v1/vms", {{"host", "evil\x8e\xff.example"}});
  EXPECT_EQ(r.status, 403);
  auto body = ParseJson(r.body);
  ASSERT_TRUE(body.ok()) << body.error().message();
  EXPECT_EQ((*body)["error"]["code"], "forbidden");
  EXPECT_NE((*body)["error"]["message"].get<std::string>().find("evil"), std::string::npos);
}

TEST_F(ApiTest, WebUiServesThePageAndGuardsTheApi) {
  ImportBase();
  const std::map<std::string, std::string> local{{"host", "127.0.0.1:8080"}};
  auto page = Web("GET", "/", local);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>banger</title>"), std::string::npos);
  const std::string csp = page.headers["Content-Security-Policy"];
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("'unsafe-eval'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("http"), std::string::npos) << "no other origin: " << csp;
  EXPECT_NE(page.body.find(R"(<script src="/assets/app.js")"), std::string::npos);
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
  EXPECT_EQ(Web("GET", "/index.html", local).body, page.body);
  // The bundle (xterm.js and the page's code) and its styles, built in.
  auto js = Web("GET", "/assets/app.js", local);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.headers["X-Content-Type-Options"], "nosniff");
  EXPECT_GT(js.body.size(), 100'000u) << "xterm.js is bundled";
  EXPECT_NE(js.body.find("/stats/history"), std::string::npos);
  auto css = Web("GET", "/assets/app.css", local);
  EXPECT_EQ(css.status, 200);
  EXPECT_NE(css.body.find(".xterm"), std::string::npos);
  EXPECT_EQ(Web("POST", "/assets/app.js", local).status, 400);
  EXPECT_EQ(Web("GET", "/assets/app.js", {{"host", "127.0.0.1:8080"}, {"cookie", ""}}).status, 401)
      << "the assets need the login too";

  // Reads go through; the API's own answers come back.
  auto list = Web("GET", "/v1/images", local);
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(Body(list)["images"][0]["name"], "base");
  EXPECT_EQ(Web("GET", "/v1/images", {{"host", "[::1]:8080"}}).status, 200);
  EXPECT_EQ(Web("GET", "/v1/images", {{"host", "localhost:8080"}}).status, 200);

  // DNS rebinding: a name other than localhost is refused.
  EXPECT_EQ(Web("GET", "/v1/images", {{"host", "evil.example:8080"}}).status, 403);
  EXPECT_EQ(Web("GET", "/", {{"host", "evil.example"}}).status, 403);
  // Changes need the UI's header, and a matching origin.
  const std::string create = R"({"name":"w1","no_start":true})";
  EXPECT_EQ(Web("POST", "/v1/vms", local, create).status, 403);
  EXPECT_FALSE(store_->GetVm("w1").ok());
  auto cross = local;
  cross["x-banger-ui"] = "1";
  cross["origin"] = "http://evil.example";
  EXPECT_EQ(Web("POST", "/v1/vms", cross, create).status, 403);
  auto ui = local;
  ui["x-banger-ui"] = "1";
  ui["origin"] = "http://127.0.0.1:8080";
  auto made = Web("POST", "/v1/vms", ui, create);
  EXPECT_EQ(made.status, 201) << made.body;
  // The daemon's own lifecycle and streams stay on the Unix socket.
  EXPECT_EQ(Web("POST", "/v1/daemon/stop", ui).status, 403);
  EXPECT_FALSE(stop_requested_);
  auto upgraded = ui;
  upgraded["upgrade"] = "banger-stream/1";
  upgraded["connection"] = "Upgrade";
  EXPECT_EQ(Web("GET", "/v1/vms/w1/exec", upgraded).status, 400);
  EXPECT_EQ(Web("GET", "/favicon.ico", local).status, 404);
}

// ---------------- request_id: replays answer 200 with the first VM ----------------

TEST_F(ApiTest, RequestIdReplayAnswers200WithTheSameVm) {
  ImportBase();
  const std::string body = R"({"name":"t1","request_id":"req-1"})";
  auto first = Call("POST", "/v1/vms", body);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = Call("POST", "/v1/vms", body);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["id"], Body(first)["id"]);
  EXPECT_EQ(Body(again)["request_id"], "req-1");
  // The key decides, not the body: a replay with other fields still answers the first VM.
  auto other = Call("POST", "/v1/vms", R"({"name":"t2","request_id":"req-1"})");
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(Body(other)["name"], "t1");
  EXPECT_EQ(store_->ListVms()->size(), 1u);
  // Another key is another VM.
  EXPECT_EQ(Call("POST", "/v1/vms", R"({"name":"t3","request_id":"req-2"})").status, 201);
  EXPECT_EQ(store_->ListVms()->size(), 2u);
}

TEST_F(ApiTest, ConcurrentCreatesWithOneRequestIdMakeOneVm) {
  ImportBase();
  constexpr int kThreads = 8;
  std::mutex mu;
  std::vector<HttpResponse> answers;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      auto r = Call("POST", "/v1/vms", R"({"request_id":"same-key","no_start":true})");
      std::lock_guard<std::mutex> l(mu);
      answers.push_back(std::move(r));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(answers.size(), static_cast<size_t>(kThreads));
  int created = 0, replayed = 0;
  std::set<std::string> ids;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.status == 201 || a.status == 200) << a.status << " " << a.body;
    (a.status == 201 ? created : replayed)++;
    ids.insert(Body(a)["id"].get<std::string>());
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(replayed, kThreads - 1);
  EXPECT_EQ(ids.size(), 1u) << "every answer names the same VM";
  auto vms = store_->ListVms();
  ASSERT_TRUE(vms.ok());
  ASSERT_EQ(vms->size(), 1u);
  EXPECT_EQ(vms->front().id, *ids.begin());
}

// ---------------- the routing table ----------------

TEST_F(ApiTest, RoutesMatchLiteralsBeforeParametersAndNameTheMethod) {
  ImportBase();
  // "build" is the build endpoint, not an image named build: DELETE is not allowed there.
  auto b = Call("DELETE", "/v1/images/build");
  EXPECT_EQ(b.status, 400);
  EXPECT_EQ(Body(b)["error"]["message"], "method DELETE not allowed on /v1/images/build");
  EXPECT_EQ(Call("GET", "/v1/images/base").status, 200);
  // Empty segments are refused, never dropped: a path means one route only.
  EXPECT_EQ(Call("GET", "/v1//images/").status, 400);
  EXPECT_EQ(Call("GET", "/v1/images/").status, 400);
  EXPECT_EQ(Call("GET", "/v1/images").status, 200);
  auto unknown = Call("GET", "/v1/vms/x/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Body(unknown)["error"]["message"], "no such endpoint: GET /v1/vms/x/nothing");
  EXPECT_EQ(Body(Call("GET", "/v2/ping"))["error"]["message"], "no such endpoint: /v2/ping");
  // Streams are WebSockets, asked for, never assumed; the old POST is gone.
  auto exec = Call("GET", "/v1/vms/x/exec");
  EXPECT_EQ(exec.status, 400);
  EXPECT_EQ(Body(exec)["error"]["message"], "exec is a WebSocket stream: connect with Upgrade: websocket");
  EXPECT_EQ(Call("POST", "/v1/vms/x/exec", R"({"argv":["true"]})").status, 400);
  for (const char* stream : {"/v1/events/stream", "/v1/vms/x/console", "/v1/sessions/s/attach",
                             "/v1/sessions/s/logs", "/v1/images/build", "/v1/images/pull",
                             "/v1/vms/x/workspaces/prepare", "/v1/vms/x/workspaces/export"}) {
    auto plain = Call("GET", stream);
    EXPECT_EQ(plain.status, 400) << stream;
    EXPECT_NE(plain.body.find("is a WebSocket stream"), std::string::npos) << stream << ": " << plain.body;
  }
}

TEST_F(ApiTest, StrictBodiesNameTheKey) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"t1","no_start":true})").status, 201);
  auto set = Call("PATCH", "/v1/vms/t1", R"({"vcpus":2})");
  EXPECT_EQ(set.status, 400);
  EXPECT_EQ(Body(set)["error"]["message"], "set request: unknown field \"vcpus\"");
  auto stop = Call("POST", "/v1/vms/t1/stop", R"({"timeout_ms":"10"})");
  EXPECT_EQ(stop.status, 400);
  EXPECT_EQ(Body(stop)["error"]["message"], "stop request: field \"timeout_ms\" must be an integer");
  auto imp = Call("POST", "/v1/images", R"({"name":"x","kernel":"/k"})");
  EXPECT_EQ(imp.status, 400);
  EXPECT_EQ(Body(imp)["error"]["message"], "image import request: unknown field \"kernel\"");
  auto sess = Call("POST", "/v1/vms/t1/sessions", R"({"argv":["sleep","1"],"stdin":"yes"})");
  EXPECT_EQ(sess.status, 400);
  EXPECT_EQ(Body(sess)["error"]["message"], "session start request: field \"stdin\" must be a boolean");
  // auto_remove is part of the create request (vm run --rm).
  EXPECT_EQ(Call("POST", "/v1/vms", R"({"name":"t2","no_start":true,"auto_remove":true})").status, 201);
}

// ---------------- the web UI's refusals, one by one ----------------

class WebUiGuardTest : public ApiTest {
 protected:
  void ExpectRefused(const HttpResponse& r, int status, const std::string& code, const std::string& says) {
    EXPECT_EQ(r.status, status) << r.body;
    Json j = Body(r);
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(says), std::string::npos) << r.body;
  }
  const std::map<std::string, std::string> ui_{
      {"host", "127.0.0.1:8080"}, {"x-banger-ui", "1"}, {"origin", "http://127.0.0.1:8080"}};
};

TEST_F(WebUiGuardTest, BadHostIsRefused) {
  ExpectRefused(Web("GET", "/v1/vms", {{"host", "banger.example.com"}}), 403, "forbidden",
                "banger.example.com");
  ExpectRefused(Web("GET", "/v1/vms", {}), 403, "forbidden", "IP address or localhost");
}

TEST_F(WebUiGuardTest, ForeignOriginIsRefused) {
  auto h = ui_;
  h["origin"] = "http://127.0.0.1:9999";  // another port is another origin
  ExpectRefused(Web("GET", "/v1/vms", h), 403, "forbidden", "cross-origin");
  h["origin"] = "https://evil.example";
  ExpectRefused(Web("DELETE", "/v1/vms/x", h), 403, "forbidden", "cross-origin");
}

TEST_F(WebUiGuardTest, ChangesWithoutTheUiHeaderAreRefused) {
  ImportBase();
  std::map<std::string, std::string> h{{"host", "127.0.0.1:8080"}};
  for (const char* method : {"POST", "PATCH", "DELETE"}) {
    ExpectRefused(Web(method, "/v1/vms", h, R"({"name":"w1"})"), 403, "forbidden", "X-Banger-UI");
  }
  EXPECT_TRUE(store_->ListVms()->empty());
  EXPECT_EQ(Web("GET", "/v1/vms", h).status, 200);
}

TEST_F(WebUiGuardTest, WebSocketsNeedTheirOriginAndOnlySomeAreOnTheWeb) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"w1"})").status, 201);
  auto h = ui_;
  h["upgrade"] = "websocket";
  h["connection"] = "Upgrade";
  // Host-side streams stay on the Unix socket.
  for (const char* target : {"/v1/images/build", "/v1/images/pull", "/v1/vms/w1/workspaces/prepare",
                             "/v1/vms/w1/workspaces/export", "/v1/vms/w1/archive?path=/etc",
                             "/v1/vms/w1/archive/upload?path=/root"}) {
    ExpectRefused(Web("GET", target, h), 403, "forbidden", "Unix socket only");
  }
  // The web's streams get past the guards (the WebSocket itself is the server's part).
  auto exec = Web("GET", "/v1/vms/w1/exec", h);
  EXPECT_EQ(exec.status, 101) << exec.body;
  EXPECT_TRUE(static_cast<bool>(exec.websocket));
  EXPECT_EQ(Web("GET", "/v1/events/stream", h).status, 101);
  EXPECT_EQ(Web("GET", "/v1/vms/w1/console", h).status, 101);
  // ... but never without an Origin (cross-site WebSocket hijacking), nor with a foreign one.
  auto no_origin = h;
  no_origin.erase("origin");
  ExpectRefused(Web("GET", "/v1/vms/w1/exec", no_origin), 403, "forbidden", "Origin");
  auto foreign = h;
  foreign["origin"] = "http://evil.example";
  ExpectRefused(Web("GET", "/v1/events/stream", foreign), 403, "forbidden", "cross-origin");
  // Only a WebSocket upgrade.
  auto other = h;
  other["upgrade"] = "banger-stream/1";
  ExpectRefused(Web("GET", "/v1/vms/w1/exec", other), 400, "invalid_argument", "only to a WebSocket");
}

TEST_F(WebUiGuardTest, DaemonControlIsRefusedHoweverThePathIsSpelled) {
  for (const char* target :
       {"/v1/daemon/stop", "/v1/%64aemon/stop", "/v1/daemon/stop?x=1", "/v1/DAEMON/../daemon/stop"}) {
    SCOPED_TRACE(target);
    auto r = Web("POST", target, ui_);
    EXPECT_TRUE(r.status == 403 || r.status == 400) << r.body;
  }
  for (const char* target : {"/v1//daemon/stop", "/v1/daemon//stop", "//v1/daemon/stop", "/v1/daemon/stop/",
                             "/v1/./daemon/stop", "/v1/x/../daemon/stop", "/v1/%2e%2e/v1/daemon/stop"}) {
    SCOPED_TRACE(target);
    ExpectRefused(Web("POST", target, ui_), 400, "invalid_argument", "segment");
    // ... and on the Unix socket too: a path is never normalized into another.
    ExpectRefused(Call("POST", target), 400, "invalid_argument", "segment");
  }
  EXPECT_FALSE(stop_requested_);
  EXPECT_EQ(Call("POST", "/v1/daemon/stop").status, 202);
  EXPECT_TRUE(stop_requested_);
}

TEST_F(WebUiGuardTest, EveryWebRequestNeedsALogin) {
  ImportBase();
  for (const char* target : {"/", "/index.html", "/v1/ping", "/v1/vms", "/v1/images", "/nothing"}) {
    SCOPED_TRACE(target);
    ExpectRefused(Web("GET", target, {{"host", "127.0.0.1:8080"}, {"cookie", ""}}), 401, "unauthenticated",
                  "banger web open");
    ExpectRefused(Web("GET", target, {{"host", "127.0.0.1:8080"}, {"cookie", "banger_session=00ff"}}), 401,
                  "unauthenticated", "banger web open");
  }
  auto h = ui_;
  h["cookie"] = "";
  ExpectRefused(Web("POST", "/v1/vms", h, R"({"name":"w1","no_start":true})"), 401, "unauthenticated",
                "login");
  EXPECT_TRUE(store_->ListVms()->empty());
  // A login token is not a session.
  auto login = web_auth_.IssueLogin(1000);
  ASSERT_TRUE(login.ok());
  EXPECT_EQ(
      Web("GET", "/v1/vms", {{"host", "127.0.0.1:8080"}, {"cookie", "banger_session=" + *login}}).status,
      401);
  // Scripts may send the session as a bearer token.
  std::string session = session_cookie_.substr(session_cookie_.find('=') + 1);
  EXPECT_EQ(Web("GET", "/v1/vms",
                {{"host", "127.0.0.1:8080"}, {"cookie", ""}, {"authorization", "Bearer " + session}})
                .status,
            200);
}

TEST_F(WebUiGuardTest, LoginTokensComeFromTheSocketOnceAndAreRevocable) {
  // Issued on the Unix socket to its caller.
  auto issued = CallAs(1000, "POST", "/v1/web/tokens");
  ASSERT_EQ(issued.status, 201) << issued.body;
  Json j = Body(issued);
  std::string url = j["url"];
  ASSERT_EQ(url.rfind("http://127.0.0.1:8080/login?token=", 0), 0u) << url;
  std::string token = url.substr(url.find('=') + 1);
  EXPECT_EQ(token.size(), 64u);  // 256 bits, hex
  EXPECT_EQ(j["uid"], 1000);
  // Not without a peer (a hand-built request has none), and never from the web listener.
  EXPECT_EQ(Call("POST", "/v1/web/tokens").status, 400);
  ExpectRefused(Web("POST", "/v1/web/tokens", ui_), 403, "forbidden", "Unix socket only");

  // Redeemed once for an HttpOnly, SameSite=Strict cookie.
  auto login = Web("GET", "/login?token=" + token, {{"host", "127.0.0.1:8080"}, {"cookie", ""}});
  ASSERT_EQ(login.status, 303) << login.body;
  EXPECT_EQ(login.headers["Location"], "/");
  std::string set = login.headers["Set-Cookie"];
  EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
  std::string cookie = set.substr(0, set.find(';'));
  EXPECT_EQ(Web("GET", "/", {{"host", "127.0.0.1:8080"}, {"cookie", cookie}}).status, 200);
  EXPECT_EQ(Web("GET", "/login?token=" + token, {{"host", "127.0.0.1:8080"}, {"cookie", ""}}).status, 401);
  EXPECT_EQ(Web("GET", "/login?token=", {{"host", "127.0.0.1:8080"}, {"cookie", ""}}).status, 401);

  // Another user's revoke leaves it; its own ends it (and only its own).
  EXPECT_EQ(Body(CallAs(1001, "DELETE", "/v1/web/tokens"))["revoked"], 0);
  EXPECT_EQ(Web("GET", "/v1/vms", {{"host", "127.0.0.1:8080"}, {"cookie", cookie}}).status, 200);
  EXPECT_EQ(Body(CallAs(1000, "DELETE", "/v1/web/tokens"))["revoked"], 2);  // this one and the fixture's
  EXPECT_EQ(Web("GET", "/v1/vms", {{"host", "127.0.0.1:8080"}, {"cookie", cookie}}).status, 401);
}

TEST_F(WebUiGuardTest, HostPathsAndStreamsAreNeverOnTheWebEvenLoggedIn) {
  ImportBase();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"w1"})").status, 201);
  // Image import names host files: with it, a web user could read any file root can.
  ExpectRefused(
      Web("POST", "/v1/images", ui_,
          Json{{"name", "shadow"}, {"kernel_path", "/etc/shadow"}, {"rootfs_path", root_ + "/rootfs.ext4"}}
              .dump()),
      403, "forbidden", "Unix socket only");
  EXPECT_FALSE(store_->GetImage("shadow").ok());
  // Without the Upgrade header too: the route decides, not the request's shape.
  ExpectRefused(Web("GET", "/v1/vms/w1/workspaces/prepare", ui_), 403, "forbidden", "Unix socket only");
  ExpectRefused(Web("GET", "/v1/vms/w1/workspaces/export", ui_), 403, "forbidden", "Unix socket only");
  ExpectRefused(Web("GET", "/v1/images/build", ui_), 403, "forbidden", "Unix socket only");
  // vm cp's archive streams, and writing a guest file (root in the guest, like exec).
  ExpectRefused(Web("GET", "/v1/vms/w1/archive?path=/etc", ui_), 403, "forbidden", "Unix socket only");
  ExpectRefused(Web("GET", "/v1/vms/w1/archive/upload?path=/root", ui_), 403, "forbidden",
                "Unix socket only");
  ExpectRefused(Web("PUT", "/v1/vms/w1/files?path=/root/x", ui_, "data"), 403, "forbidden",
                "Unix socket only");
  // Reads and VM changes are the web UI's job.
  EXPECT_EQ(Web("GET", "/v1/images", ui_).status, 200);
  EXPECT_EQ(Web("POST", "/v1/vms/w1/stop", ui_, "{}").status, 200);
}

TEST_F(WebUiGuardTest, InvalidUtf8InAPathIsAnAnswerNotACrash) {
  // The seed died here: the 404 quoted the path and Json::dump threw.
  for (const char* target : {"/%ff", "/v1/vms/%ff", "/v1/%ff%fe/x", "/v1/images/%c3%28"}) {
    SCOPED_TRACE(target);
    auto r = Web("GET", target, ui_);
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_TRUE(Json::accept(r.body)) << r.body;
    auto u = Call("GET", target);
    EXPECT_EQ(u.status, 404) << u.body;
    EXPECT_TRUE(Json::accept(u.body)) << u.body;
  }
}

}  // namespace
}  // namespace banger
