// The CLI end to end against a fake daemon: argv in, exit code and output out.
#include "cli/app.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "api/fake_daemon_test.h"
#include "base/fs.h"
#include "config/config.h"
#include "http/http.h"
#include "model/json.h"

namespace banger {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

class CliTest : public FakeDaemonTest {
 protected:
  // A fake daemon: answers ping itself and everything else with `h`,
  // recording the requests.
  void Serve(const HttpHandler& h) {
    FakeDaemonTest::Serve([this, h](const HttpRequest& r) {
      if (r.Path() == "/v1/ping") return Answer(200, {{"version", "0.1.0"}, {"pid", 1}});
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(r);
      return h(r);
    });
  }

  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), "banger");
    args.push_back("--home");
    args.push_back(home_.root);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    int code = RunCli(static_cast<int>(args.size()), argv.data());
    std::string out = testing::internal::GetCapturedStdout();
    return {code, out, testing::internal::GetCapturedStderr()};
  }

  static HttpResponse Answer(int status, const Json& j) {
    HttpResponse r;
    r.status = status;
    r.body = j.dump();
    return r;
  }
  static HttpResponse NotFound(const std::string& what) {
    return Answer(404, {{"error", {{"code", "not_found"}, {"message", what + " not found"}}}});
  }
  std::vector<HttpRequest> Requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

  std::mutex mu_;
  std::vector<HttpRequest> requests_;  // Guarded by mu_.
};

TEST_F(CliTest, VersionAndHelpExitZero) {
  auto v = Run({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out, "banger 0.1.0\n");
  auto h = Run({"vm", "create", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("--work-disk-size"), std::string::npos);
}

TEST_F(CliTest, ParseErrorsAreUsageErrors) {
  EXPECT_EQ(Run({"frobnicate"}).code, 2);
  EXPECT_EQ(Run({"vm"}).code, 2);
  EXPECT_EQ(Run({"vm", "start"}).code, 2);
  EXPECT_EQ(Run({"vm", "create", "--vcpus", "many"}).code, 2);
  EXPECT_EQ(Run({"image", "import", "base", "--kernel", "/k"}).code, 2);  // --rootfs missing
}

// Bad values fail the operation (exit 1, as the same error from the daemon
// would) but are caught before the daemon is even contacted.
TEST_F(CliTest, BadValuesFailBeforeTheDaemon) {
  auto r = Run({"vm", "create", "--work-disk-size", "200G"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "banger: size \"200G\" exceeds the maximum of 128G\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Run({"vm", "create", "--name", "Not_A_Label"}).code, 1);
  EXPECT_EQ(Run({"vm", "list", "--label", "novalue"}).code, 1);
  EXPECT_EQ(Run({"vm", "set", "web"}).code, 1);
  // No daemon was started for any of them.
  EXPECT_FALSE(PathExists(home_.DaemonOut()));
}

TEST_F(CliTest, GlobalOptionsWorkAfterTheSubcommand) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/vms") return Answer(200, {{"vms", Json::array({{{"name", "web"}}})}});
    return NotFound("route");
  });
  auto r = Run({"vm", "list", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out), Json::parse(R"([{"name": "web"}])"));
}

TEST_F(CliTest, VmListTableMapsImageIdsToNamesAndFiltersByLabel) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/vms") {
      return Answer(200, Json::parse(R"({"vms": [{"name": "web", "state": "stopped", "image_id": "i1",
        "spec": {"vcpu_count": 1, "memory_mib": 512, "backend": "qemu"}, "runtime": {}}]})"));
    }
    if (r.Path() == "/v1/images") {
      return Answer(200, Json::parse(R"({"images": [{"id": "i1", "name": "base"}]})"));
    }
    return NotFound("route");
  });
  auto r = Run({"vm", "list", "--label", "team=a"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAME   STATE     IMAGE   VCPUS   MEMORY   IP   BACKEND   CREATED   PORTS\n"
            "web    stopped   base    1       512M     -    qemu                -\n");
  EXPECT_EQ(Requests().at(0).Query()["label"], "team=a");
}

TEST_F(CliTest, EachNameInTurnAndOneLinePerFailure) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/vms/ghost/start") return NotFound("vm \"ghost\"");
    std::string name = r.Path().substr(std::string("/v1/vms/").size());
    return Answer(200, {{"name", name.substr(0, name.find('/'))}, {"state", "running"}});
  });
  auto r = Run({"vm", "start", "a", "ghost", "b"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "a\nb\n");
  EXPECT_EQ(r.err, "banger: vm \"ghost\" not found\n");
}

TEST_F(CliTest, WebOpenAsksTheSocketAndPrintsTheLoginUrl) {
  Serve([](const HttpRequest& r) {
    if (r.method == "POST" && r.Path() == "/v1/web/tokens") {
      return Answer(201, {{"url", "http://127.0.0.1:8080/login?token=abc"}, {"login_token", "abc"}});
    }
    if (r.method == "DELETE" && r.Path() == "/v1/web/tokens") return Answer(200, {{"revoked", 2}});
    return Answer(404, {{"error", {{"code", "not_found"}, {"message", "no"}}}});
  });
  auto r = Run({"web", "open"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "http://127.0.0.1:8080/login?token=abc\n");
  auto revoke = Run({"web", "revoke"});
  EXPECT_EQ(revoke.code, 0) << revoke.err;
  EXPECT_EQ(revoke.out, "revoked 2 web UI token(s)\n");
}

TEST_F(CliTest, StopSendsTheTimeoutInMilliseconds) {
  Serve([](const HttpRequest&) { return Answer(200, {{"name", "web"}}); });
  auto r = Run({"vm", "stop", "web", "--timeout", "3"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].Path(), "/v1/vms/web/stop");
  EXPECT_EQ(Json::parse(reqs[0].body), Json::parse(R"({"timeout_ms": 3000})"));
}

TEST_F(CliTest, CreateSendsSizesInBytesAndPrintsTheName) {
  Serve([](const HttpRequest&) { return Answer(201, {{"name", "brisk-otter-1234"}}); });
  auto r = Run({"vm", "create", "--work-disk-size", "1G", "--label", "a=1", "--label", "b=2", "--no-start"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "brisk-otter-1234\n");
  EXPECT_EQ(r.err, "");  // not a terminal: no progress
  EXPECT_EQ(Json::parse(Requests().at(0).body),
            Json::parse(R"({"work_disk_size_bytes": 1073741824, "labels": {"a": "1", "b": "2"},
                            "no_start": true})"));
}

TEST_F(CliTest, DeleteIfExistsOfAMissingVmSucceedsQuietly) {
  Serve([](const HttpRequest& r) {
    if (r.Query()["missing_ok"] == "true") return Answer(200, {{"deleted", false}});
    return NotFound("vm \"gone\"");
  });
  auto quiet = Run({"vm", "delete", "gone", "--if-exists"});
  EXPECT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "");
  auto loud = Run({"vm", "delete", "gone"});
  EXPECT_EQ(loud.code, 1);
  EXPECT_EQ(loud.err, "banger: vm \"gone\" not found\n");
}

TEST_F(CliTest, LogsPagesUntilNoNewBytes) {
  Serve([](const HttpRequest& r) {
    HttpResponse resp;
    resp.content_type = "application/octet-stream";
    std::string offset = r.Query()["offset"];
    resp.body = offset == "0" ? "hello\n" : offset == "6" ? "world\n" : "";
    resp.headers["X-Banger-Next-Offset"] = std::to_string(std::stoi(offset) + resp.body.size());
    resp.headers["X-Banger-Vm-State"] = "running";
    return resp;
  });
  auto r = Run({"vm", "logs", "web"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\nworld\n");
  for (const auto& req : Requests()) EXPECT_EQ(req.Query().count("wait_ms"), 0u);
}

TEST_F(CliTest, LogsFollowEndsWhenTheVmStopped) {
  Serve([](const HttpRequest& r) {
    HttpResponse resp;
    std::string offset = r.Query()["offset"];
    resp.body = offset == "0" ? "boot\n" : offset == "5" ? "bye\n" : "";
    resp.headers["X-Banger-Next-Offset"] = std::to_string(std::stoi(offset) + resp.body.size());
    resp.headers["X-Banger-Vm-State"] = offset == "0" ? "running" : "stopped";
    return resp;
  });
  auto r = Run({"vm", "logs", "web", "--follow"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "boot\nbye\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].Query()["wait_ms"], "5000");    // the VM ran: wait for more
  EXPECT_EQ(reqs[2].Query().count("wait_ms"), 0u);  // it stopped: just drain
}

TEST_F(CliTest, EventsPrintsOneJsonLineEachFromTheCursor) {
  Serve([](const HttpRequest& r) {
    if (r.Query()["after"] == "5") {
      return Answer(200, Json::parse(R"({"events": [{"seq": 6, "type": "vm.created"},
                                                    {"seq": 7, "type": "vm.state"}], "last_seq": 7})"));
    }
    return Answer(200, Json::parse(R"({"events": [], "last_seq": 7})"));
  });
  auto r = Run({"events", "--after", "5"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"seq\":6,\"type\":\"vm.created\"}\n{\"seq\":7,\"type\":\"vm.state\"}\n");
  EXPECT_EQ(Requests().back().Query()["after"], "7");
}

TEST_F(CliTest, ImportSendsAbsolutePaths) {
  Serve([](const HttpRequest&) { return Answer(201, {{"name", "base"}}); });
  auto r = Run({"image", "import", "base", "--kernel", "vmlinux", "--rootfs", "/r.ext4"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "base\n");
  Json body = Json::parse(Requests().at(0).body);
  EXPECT_EQ(body["kernel_path"], AbsolutePath("vmlinux"));
  EXPECT_EQ(body["rootfs_path"], "/r.ext4");
}

TEST_F(CliTest, ShowJsonIsTheObject) {
  Serve([](const HttpRequest&) { return Answer(200, {{"id", "i1"}, {"name", "base"}}); });
  auto r = Run({"image", "show", "base", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\n  \"id\": \"i1\",\n  \"name\": \"base\"\n}\n");
}

TEST_F(CliTest, DaemonStatusAndStopDoNotStartADaemon) {
  auto status = Run({"daemon", "status"});
  EXPECT_EQ(status.code, 1);
  EXPECT_EQ(status.out, "bangerd is not running\n");
  auto stop = Run({"daemon", "stop"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_FALSE(PathExists(home_.DaemonOut()));
}

TEST_F(CliTest, DaemonStatusWhenRunning) {
  Serve([](const HttpRequest&) { return NotFound("route"); });
  auto r = Run({"daemon", "status", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["running"], true);
}

TEST_F(CliTest, NoDaemonAndNoBangerdIsAFailureNotACrash) {
  auto r = Run({"image", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("banger: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

}  // namespace
}  // namespace banger
