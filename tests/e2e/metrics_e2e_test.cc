// GET /metrics against the real banger + bangerd with a running guest under
// TCG: on the Unix socket and the web listener (login or scrape token), the
// output accepted by `promtool check metrics`, and the series a dashboard
// needs present with sane values.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <regex>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

constexpr const char* kTcgConfig =
    "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\ndefault_image_name = \"base\"\n"
    "stats_poll_interval = \"1s\"\nmetrics_poll_interval = \"1s\"\nweb_listen_addr = \"127.0.0.1:0\"\n";

HttpResponse UnixGet(BangerHome& h, const std::string& target) {
  HttpRequest req;
  req.target = target;
  auto r = UnixHttpCall(h.root() + "/bangerd.sock", req, std::chrono::seconds(30));
  EXPECT_TRUE(r.ok()) << target << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : HttpResponse{0, "", "", {}, {}};
}

HttpResponse UnixPost(BangerHome& h, const std::string& target, const std::string& body) {
  HttpRequest req;
  req.method = "POST";
  req.target = target;
  req.body = body;
  auto r = UnixHttpCall(h.root() + "/bangerd.sock", req, std::chrono::seconds(30));
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : HttpResponse{0, "", "", {}, {}};
}

// One request on the web listener: the raw answer ("HTTP/1.1 200 OK...").
std::string WebGet(int port, const std::string& path, const std::string& headers = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string raw =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + "\r\n";
    if (::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size())) {
      char buf[8192];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

// The value of the sample `series` ("name{labels}" exactly as printed), or -1.
double Value(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  at += series.size() + 2;
  return std::stod(text.substr(at, text.find('\n', at) - at));
}

TEST(MetricsE2E, ScrapedOnBothListenersAndAcceptedByPromtool) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger({"vm", "create", "--name", "m1", "--vcpus", "1", "--memory", "256"});
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_EQ(h.Banger({"vm", "create", "--name", "m2", "--no-start"}).code, 0);
  ASSERT_EQ(h.Banger({"vm", "show", "m1"}).code, 0);
  ASSERT_EQ(h.Banger({"vm", "list"}).code, 0);

  // The stats pass (1 s here) samples the running VM's VMM.
  std::string text;
  ASSERT_TRUE(WaitUntil(
      [&] {
        text = UnixGet(h, "/metrics").body;
        return Value(text, "banger_vm_resident_memory_bytes{vm=\"m1\"}") > 0 &&
               text.find("\nbanger_vm_block_read_bytes_total{drive=") != std::string::npos;
      },
      std::chrono::seconds(60)))
      << text;
  HttpResponse r = UnixGet(h, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  text = "\n" + r.body;

  EXPECT_EQ(Value(text, "banger_vm_state{state=\"running\",vm=\"m1\"}"), 1) << text;
  EXPECT_EQ(Value(text, "banger_vm_state{state=\"stopped\",vm=\"m1\"}"), 0);
  EXPECT_EQ(Value(text, "banger_vm_state{state=\"created\",vm=\"m2\"}"), 1);
  EXPECT_EQ(Value(text, "banger_vm_vcpus{vm=\"m1\"}"), 1);
  EXPECT_EQ(Value(text, "banger_vm_memory_bytes{vm=\"m1\"}"), 256.0 * 1024 * 1024);
  EXPECT_GT(Value(text, "banger_vm_cpu_seconds_total{vm=\"m1\"}"), 0);
  EXPECT_GT(Value(text, "banger_vm_disk_allocated_bytes{disk=\"system_overlay\",vm=\"m1\"}"), 0);
  EXPECT_EQ(Value(text, "banger_vm_resident_memory_bytes{vm=\"m2\"}"), -1) << "m2 has no VMM";
  EXPECT_GT(Value(text, "banger_daemon_uptime_seconds"), 0);
  EXPECT_GE(Value(text, "banger_http_open_connections{listener=\"unix\"}"), 1) << "this scrape's own";
  EXPECT_GE(Value(text, "banger_events_published_total"), 2);
  EXPECT_GE(Value(text,
                  "banger_http_requests_total{code=\"200\",listener=\"unix\",method=\"GET\",route=\"/v1/vms/"
                  "{ref}\"}"),
            1)
      << text;
  EXPECT_GE(
      Value(text,
            "banger_http_request_duration_seconds_count{listener=\"unix\",method=\"GET\",route=\"/v1/vms\"}"),
      1);
  EXPECT_NE(text.find("\nbanger_build_info{api=\"1\",version=\""), std::string::npos);

  // Hostile paths: one "unmatched" label however many there are.
  for (int i = 0; i < 50; ++i) UnixGet(h, "/v1/nothing-" + std::to_string(i) + "/x?y=" + std::to_string(i));
  text = "\n" + UnixGet(h, "/metrics").body;
  EXPECT_EQ(
      Value(text,
            "banger_http_requests_total{code=\"404\",listener=\"unix\",method=\"GET\",route=\"unmatched\"}"),
      50)
      << text;
  EXPECT_EQ(text.find("nothing-"), std::string::npos);

  // The web listener: 401 without a login or a scrape token, 200 with either.
  std::string url = h.BangerJson({"daemon", "status"}).value("web_url", "");
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  int port = std::stoi(url.substr(std::strlen("http://127.0.0.1:")));
  EXPECT_EQ(WebGet(port, "/metrics").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(WebGet(port, "/metrics", "Authorization: Bearer " + std::string(64, '0') + "\r\n")
                .rfind("HTTP/1.1 401", 0),
            0u);
  HttpResponse tok = UnixPost(h, "/v1/web/tokens", R"({"scope":"metrics"})");
  ASSERT_EQ(tok.status, 201) << tok.body;
  std::string token = Json::parse(tok.body)["token"];
  std::string bearer = "Authorization: Bearer " + token + "\r\n";
  std::string web = WebGet(port, "/metrics", bearer);
  ASSERT_EQ(web.rfind("HTTP/1.1 200", 0), 0u) << web.substr(0, 300);
  EXPECT_NE(web.find("banger_vm_state{state=\"running\",vm=\"m1\"} 1"), std::string::npos);
  EXPECT_EQ(WebGet(port, "/v1/vms", bearer).rfind("HTTP/1.1 401", 0), 0u)
      << "a scrape token opens /metrics only";
  Json login = h.BangerJson({"web", "open"});
  std::string lurl = login.value("url", "");
  std::string got = WebGet(port, lurl.substr(lurl.find("/login")));
  auto at = got.find("banger_session=");
  ASSERT_NE(at, std::string::npos) << got;
  std::string cookie = "Cookie: " + got.substr(at, got.find(';', at) - at) + "\r\n";
  EXPECT_EQ(WebGet(port, "/metrics", cookie).rfind("HTTP/1.1 200", 0), 0u);
  // The scrape token outlives a daemon restart (its hash is kept in the home).
  ASSERT_EQ(h.Banger({"daemon", "stop"}).code, 0);
  ASSERT_EQ(h.Banger({"vm", "list"}).code, 0);  // auto-starts the daemon again
  url = h.BangerJson({"daemon", "status"}).value("web_url", "");
  port = std::stoi(url.substr(std::strlen("http://127.0.0.1:")));
  web = WebGet(port, "/metrics", bearer);
  EXPECT_EQ(web.rfind("HTTP/1.1 200", 0), 0u) << web.substr(0, 300);
  EXPECT_NE(web.find("banger_vm_state{state=\"running\",vm=\"m1\"} 1"), std::string::npos) << "m1 re-adopted";

  // promtool, strict about names, HELP/TYPE and the format.
  auto promtool = RunCommand({"sh", "-c", "command -v promtool"});
  if (!promtool.ok() || promtool->exit_code != 0) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus): the format check did not run";
  }
  std::string body = web.substr(web.find("\r\n\r\n") + 4);
  std::string file = h.root() + "/metrics.txt";
  ASSERT_TRUE(WriteFileAtomic(file, body).ok());
  auto check = RunCommand({"sh", "-c", "promtool check metrics < \"$1\"", "sh", file});
  ASSERT_TRUE(check.ok()) << check.error().message();
  EXPECT_EQ(check->exit_code, 0) << check->out << check->err << "\n" << body;
  EXPECT_EQ(check->out + check->err, "") << "promtool's lint found something:\n" << body;
}

}  // namespace
}  // namespace banger::e2e
