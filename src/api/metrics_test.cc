// GET /metrics (api/metrics.h): names, labels and the text format, over fakes.
#include "api/metrics.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "api/server.h"
#include "api/web_ui.h"
#include "base/fs.h"
#include "daemon/fakes.h"
#include "daemon/testing/vm_service_fixture.h"
#include "daemon/vmm_counters.h"
#include "model/json.h"

namespace banger {
namespace {

// The samples of family `name` in a text exposition: "name{labels} value" lines.
std::vector<std::string> Samples(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0) out.push_back(line);
  }
  return out;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(MetricsLabelsTest, MethodsAndCodesAreBounded) {
  EXPECT_EQ(MethodLabel("GET"), "GET");
  EXPECT_EQ(MethodLabel("DELETE"), "DELETE");
  EXPECT_EQ(MethodLabel("get"), "other");
  EXPECT_EQ(MethodLabel("BREW"), "other");
  EXPECT_EQ(MethodLabel(std::string(1000, 'X')), "other");
  EXPECT_EQ(StatusLabel(200), "200");
  EXPECT_EQ(StatusLabel(101), "101");
  EXPECT_EQ(StatusLabel(99), "other");
  EXPECT_EQ(StatusLabel(600), "other");
  EXPECT_STREQ(ListenerLabel(Listener::kUnix), "unix");
  EXPECT_STREQ(ListenerLabel(Listener::kWeb), "web");
}

TEST(MetricsTextTest, RequestsAreCountedAndTimedWithHelpAndType) {
  DaemonMetrics m(
      MetricsSources{nullptr, nullptr, nullptr, nullptr, "1.2.3", Timestamp{std::chrono::seconds(1000)}});
  m.ObserveRequest(Listener::kUnix, "/v1/vms/{ref}", "GET", 200, std::chrono::milliseconds(3));
  m.ObserveRequest(Listener::kUnix, "/v1/vms/{ref}", "GET", 200, std::chrono::milliseconds(30));
  m.ObserveRequest(Listener::kWeb, "unmatched", "BREW", 404, std::chrono::microseconds(10));
  std::string t = m.Render();
  EXPECT_TRUE(Has(t, "# TYPE banger_http_requests_total counter")) << t;
  EXPECT_TRUE(Has(t, "# TYPE banger_http_request_duration_seconds histogram")) << t;
  EXPECT_TRUE(Has(
      t,
      "banger_http_requests_total{code=\"200\",listener=\"unix\",method=\"GET\",route=\"/v1/vms/{ref}\"} 2"))
      << t;
  EXPECT_TRUE(Has(
      t, "banger_http_requests_total{code=\"404\",listener=\"web\",method=\"other\",route=\"unmatched\"} 1"))
      << t;
  // 3 ms and 30 ms: one in the 5 ms bucket, both in the 50 ms one.
  EXPECT_TRUE(
      Has(t,
          "banger_http_request_duration_seconds_bucket{listener=\"unix\",method=\"GET\",route=\"/v1/vms/"
          "{ref}\",le=\"0.005\"} 1"))
      << t;
  EXPECT_TRUE(
      Has(t,
          "banger_http_request_duration_seconds_bucket{listener=\"unix\",method=\"GET\",route=\"/v1/vms/"
          "{ref}\",le=\"0.05\"} 2"))
      << t;
  EXPECT_TRUE(
      Has(t,
          "banger_http_request_duration_seconds_count{listener=\"unix\",method=\"GET\",route=\"/v1/vms/"
          "{ref}\"} 2"))
      << t;
  EXPECT_TRUE(Has(t, "banger_build_info{api=\"1\",version=\"1.2.3\"} 1")) << t;
  EXPECT_TRUE(Has(t, "banger_daemon_start_time_seconds 1000")) << t;
  // Every family has its HELP and TYPE, and every sample name follows the conventions.
  std::regex sample(R"(^banger_[a-z0-9_]+(\{.*\})? -?[0-9.e+-]+$|^# (HELP|TYPE) banger_[a-z0-9_]+ .+$)");
  std::istringstream in(t);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
    }
  }
}

TEST(VmmCountersTest, QemuTotalsAreReplacedFirecrackerDeltasAdded) {
  VmmBlockTotals q;
  Json raw = Json::parse(R"({"blockstats": [
      {"device": "rootfs", "stats": {"rd_bytes": 100, "wr_bytes": 20, "rd_operations": 3, "wr_operations": 1}},
      {"device": "work", "stats": {"rd_bytes": 5}}]})");
  AddVmmMetrics(BackendKind::kQemu, raw, q);
  AddVmmMetrics(BackendKind::kQemu, raw, q);  // cumulative: the same answer twice counts once
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q["rootfs"].read_bytes, 100);
  EXPECT_EQ(q["rootfs"].write_ops, 1);
  EXPECT_EQ(q["work"].read_bytes, 5);

  VmmBlockTotals f;
  Json delta = Json::parse(R"({"utc_timestamp_ms": 1, "block": {"read_bytes": 999},
      "block_rootfs": {"read_bytes": 10, "write_bytes": 4, "read_count": 2, "write_count": 1}})");
  AddVmmMetrics(BackendKind::kFirecracker, delta, f);
  AddVmmMetrics(BackendKind::kFirecracker, delta, f);  // deltas add up
  ASSERT_EQ(f.size(), 1u);                             // the per-drive keys win over the sum "block"
  EXPECT_EQ(f["rootfs"].read_bytes, 20);
  EXPECT_EQ(f["rootfs"].write_ops, 2);
  // FC before 1.6: only the sum.
  VmmBlockTotals old;
  AddVmmMetrics(BackendKind::kFirecracker, Json::parse(R"({"block": {"write_bytes": 7}})"), old);
  EXPECT_EQ(old["all"].write_bytes, 7);
}

TEST(VmmCountersTest, HostileAnswersAreIgnored) {
  VmmBlockTotals t;
  for (const char* s :
       {R"([1,2])", R"({"blockstats": "x"})", R"({"blockstats": [1, {"device": 3}, {"stats": {}}]})",
        R"({"blockstats": [{"device": "d", "stats": {"rd_bytes": -5, "wr_bytes": "7"}}]})"}) {
    AddVmmMetrics(BackendKind::kQemu, Json::parse(s), t);
  }
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t["d"].read_bytes, 0);
  EXPECT_EQ(t["d"].write_bytes, 0);
  // A VMM naming a thousand drives gets a bounded map.
  Json many = Json::object();
  for (int i = 0; i < 1000; ++i) many["block_d" + std::to_string(i)] = Json{{"read_bytes", 1}};
  VmmBlockTotals m;
  AddVmmMetrics(BackendKind::kFirecracker, many, m);
  EXPECT_LE(m.size(), 32u);
  VmmBlockTotals longname;
  AddVmmMetrics(BackendKind::kFirecracker, Json{{"block_" + std::string(500, 'a'), {{"read_bytes", 1}}}},
                longname);
  EXPECT_TRUE(longname.empty());
}

TEST(WebAuthMetricsTest, ScrapeTokensPersistAreReplacedAndRevoked) {
  char tmpl[] = "/tmp/banger-metrics-auth-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string file = std::string(tmpl) + "/tokens";
  std::string t1, t2;
  {
    WebAuth a(WebAuth::kDefaultSessionTtl, WebAuth::kDefaultLoginTtl, file);
    auto r = a.IssueMetrics(1000);
    ASSERT_TRUE(r.ok()) << r.error().message();
    t1 = *r;
    EXPECT_TRUE(a.CheckMetrics(t1));
    EXPECT_FALSE(a.Check(t1).has_value());  // not a session
    EXPECT_FALSE(a.CheckMetrics(""));
    EXPECT_FALSE(a.CheckMetrics(t1 + "x"));
  }
  auto saved = ReadFile(file);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->find(t1), std::string::npos);  // only its hash is kept
  {
    WebAuth b(WebAuth::kDefaultSessionTtl, WebAuth::kDefaultLoginTtl, file);  // a daemon restart
    EXPECT_TRUE(b.CheckMetrics(t1));
    auto r = b.IssueMetrics(1000);
    ASSERT_TRUE(r.ok());
    t2 = *r;
    EXPECT_FALSE(b.CheckMetrics(t1));  // replaced
    EXPECT_TRUE(b.CheckMetrics(t2));
    ASSERT_TRUE(b.IssueMetrics(2000).ok());
    EXPECT_EQ(b.Revoke(1000), 1);
    EXPECT_FALSE(b.CheckMetrics(t2));
  }
  WebAuth c(WebAuth::kDefaultSessionTtl, WebAuth::kDefaultLoginTtl, file);
  EXPECT_FALSE(c.CheckMetrics(t2));
  std::filesystem::remove_all(tmpl);
}

class MetricsApiTest : public DaemonTest {
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
        *svc_, *images_, *sessions_, *monitor_, *workspaces_, *events_, info, [] {}, &web_auth_);
    for (const char* f : {"vmlinux", "rootfs.ext4"}) ASSERT_TRUE(WriteFileAtomic(root_ + "/" + f, "x").ok());
  }
  HttpResponse Call(const std::string& method, const std::string& target, const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.peer_uid = 1000;
    return router_->Handle(r);
  }
  HttpResponse Web(const std::string& target, const std::string& bearer) {
    WebUi web(*router_, web_auth_);
    HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.headers["host"] = "127.0.0.1:8080";
    if (!bearer.empty()) r.headers["authorization"] = "Bearer " + bearer;
    return web.Handle(r);
  }
  std::string Scrape() {
    HttpResponse r = Call("GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, kMetricsContentType);
    return r.body;
  }

  std::unique_ptr<SessionService> sessions_;
  std::unique_ptr<VmMonitor> monitor_;
  std::unique_ptr<WorkspaceService> workspaces_;
  WebAuth web_auth_;
  std::unique_ptr<ApiRouter> router_;
};

TEST_F(MetricsApiTest, RoutesAreLabelledByPatternAndBogusPathsShareOneLabel) {
  ASSERT_EQ(Call("GET", "/v1/vms/nope").status, 404);
  ASSERT_EQ(Call("GET", "/v1/vms/other").status, 404);
  for (int i = 0; i < 300; ++i) {
    Call("GET", "/v1/bogus-" + std::to_string(i) + "/x");
    Call("GET", "/wp-admin/" + std::to_string(i));
    Call("BREW" + std::to_string(i), "/v1/ping");
  }
  std::string t = Scrape();
  EXPECT_TRUE(Has(
      t,
      "banger_http_requests_total{code=\"404\",listener=\"unix\",method=\"GET\",route=\"/v1/vms/{ref}\"} 2"))
      << t;
  EXPECT_TRUE(Has(
      t, "banger_http_requests_total{code=\"404\",listener=\"unix\",method=\"GET\",route=\"unmatched\"} 600"))
      << t;
  // A method the route does not have: its route, method "other".
  EXPECT_TRUE(Has(
      t,
      "banger_http_requests_total{code=\"400\",listener=\"unix\",method=\"other\",route=\"/v1/ping\"} 300"))
      << t;
  EXPECT_EQ(t.find("bogus"), std::string::npos);
  EXPECT_EQ(t.find("wp-admin"), std::string::npos);
  EXPECT_EQ(t.find("BREW"), std::string::npos);
  EXPECT_LE(Samples(t, "banger_http_requests_total").size(), 4u) << t;
}

TEST_F(MetricsApiTest, VmsHaveStateAndConfiguredSize) {
  ASSERT_EQ(
      Call(
          "POST", "/v1/images",
          Json{{"name", "base"}, {"kernel_path", root_ + "/vmlinux"}, {"rootfs_path", root_ + "/rootfs.ext4"}}
              .dump())
          .status,
      201);
  ASSERT_EQ(
      Call("POST", "/v1/vms", R"({"name":"m1","no_start":true,"vcpu_count":2,"memory_mib":256})").status,
      201);
  std::string t = Scrape();
  EXPECT_TRUE(Has(t, "banger_vm_state{state=\"created\",vm=\"m1\"} 1")) << t;
  EXPECT_TRUE(Has(t, "banger_vm_state{state=\"running\",vm=\"m1\"} 0")) << t;
  EXPECT_TRUE(Has(t, "banger_vm_vcpus{vm=\"m1\"} 2")) << t;
  EXPECT_TRUE(Has(t, "banger_vm_memory_bytes{vm=\"m1\"} 268435456")) << t;
  EXPECT_EQ(Samples(t, "banger_vm_info").size(), 1u);
  EXPECT_TRUE(Samples(t, "banger_vm_resident_memory_bytes").empty());  // no VMM, no usage
  EXPECT_TRUE(Has(t, "banger_events_published_total " + std::to_string(events_->published()))) << t;
  EXPECT_GE(events_->published(), 1u);
}

TEST_F(MetricsApiTest, WebListenerNeedsASessionOrAScrapeToken) {
  EXPECT_EQ(Web("/metrics", "").status, 401);
  EXPECT_EQ(Web("/metrics", std::string(64, 'a')).status, 401);
  // A scrape token from the socket opens /metrics, and nothing else.
  HttpResponse issued = Call("POST", "/v1/web/tokens", R"({"scope":"metrics"})");
  ASSERT_EQ(issued.status, 201) << issued.body;
  std::string token = Json::parse(issued.body)["token"];
  EXPECT_EQ(Json::parse(issued.body)["metrics_url"], "http://127.0.0.1:8080/metrics");
  HttpResponse ok = Web("/metrics", token);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("banger_build_info"), std::string::npos);
  EXPECT_EQ(Web("/v1/vms", token).status, 401);
  EXPECT_EQ(Web("/", token).status, 401);
  // A login session opens it too.
  auto login = web_auth_.IssueLogin(1000);
  ASSERT_TRUE(login.ok());
  auto session = web_auth_.Redeem(*login);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(Web("/metrics", *session).status, 200);
  // The web listener's requests are counted under their own listener label.
  std::string t = Scrape();
  EXPECT_TRUE(
      Has(t, "banger_http_requests_total{code=\"200\",listener=\"web\",method=\"GET\",route=\"/metrics\"} 2"))
      << t;
  EXPECT_TRUE(Has(
      t, "banger_http_requests_total{code=\"401\",listener=\"web\",method=\"GET\",route=\"unmatched\"} 4"))
      << t;
  // Bad scopes are refused; DELETE revokes the scrape token.
  EXPECT_EQ(Call("POST", "/v1/web/tokens", R"({"scope":"root"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/web/tokens", R"({"scope":1})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/web/tokens", R"([])").status, 400);
  EXPECT_EQ(Call("DELETE", "/v1/web/tokens").status, 200);
  EXPECT_EQ(Web("/metrics", token).status, 401);
}

}  // namespace
}  // namespace banger
