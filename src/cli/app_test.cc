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
#include "api/stream.h"
#include "base/fs.h"
#include "cli/cli_test_fixture.h"
#include "config/config.h"
#include "http/http.h"
#include "http/ws.h"
#include "model/json.h"

namespace banger {
namespace {

TEST_F(CliTest, VersionAndHelpExitZero) {
  auto v = Run({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out, "banger 0.1.0\n");
  auto h = Run({"vm", "create", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("--work-disk-size"), std::string::npos);
}

TEST_F(CliTest, VmRunWithNoCommandNeedsAnImageWithOne) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/images/plain") {
      return Answer(200, Json::parse(R"({"name": "plain", "source": {"kind": "profile"}})"));
    }
    return NotFound("route");
  });
  auto r = Run({"vm", "run", "--image", "plain", "--rm"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "banger: image plain has no command (Entrypoint/Cmd); give one after --\n");
  // Refused before a VM was made.
  for (const auto& req : Requests()) EXPECT_NE(req.method, "POST") << req.Path();
  // Bad guest command flags: refused before anything is asked.
  size_t asked = Requests().size();
  auto w = Run({"vm", "run", "--image", "plain", "-w", "rel", "--", "pwd"});
  EXPECT_EQ(w.code, 125);
  EXPECT_EQ(w.err, "banger: --workdir must be an absolute path in the guest, got \"rel\"\n");
  auto u = Run({"vm", "exec", "web", "-u", "a:b:c", "--", "id"});
  EXPECT_EQ(u.code, 125);
  EXPECT_EQ(u.err, "banger: --user \"a:b:c\" must be NAME, UID, UID:GID or NAME:GROUP\n");
  EXPECT_EQ(Requests().size(), asked);
  // vm exec still needs its command.
  EXPECT_EQ(Run({"vm", "exec", "web"}).code, 2);
}

TEST_F(CliTest, SessionStartSendsUserWorkdirEnvAndMayOmitTheCommand) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/vms/web/sessions") return Answer(201, {{"name", "svc-1"}});
    return NotFound("route");
  });
  auto r = Run({"session", "start", "web", "-u", "app", "-w", "/srv", "-e", "A=1", "--no-image-env"});
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(Requests().size(), 1u);
  EXPECT_EQ(Json::parse(Requests()[0].body),
            Json::parse(R"({"argv": [], "env": {"A": "1"}, "cwd": "/srv", "user": "app", "no_image_env": true,
                            "stdin": false, "timeout_ms": 120000})"));
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
            "ID   NAME   STATE     IMAGE   VCPUS   MEMORY   IP   BACKEND   CREATED   PORTS\n"
            "     web    stopped   base    1       512M     -    qemu                -\n");
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

TEST_F(CliTest, WebMetricsTokenAsksForTheMetricsScope) {
  std::string body;
  Serve([&body](const HttpRequest& r) {
    if (r.method == "POST" && r.Path() == "/v1/web/tokens") {
      body = r.body;
      return Answer(201, {{"scope", "metrics"}, {"token", "f00d"}, {"uid", 1000}, {"metrics_url", "u"}});
    }
    return Answer(404, {{"error", {{"code", "not_found"}, {"message", "no"}}}});
  });
  auto r = Run({"web", "metrics-token"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "f00d\n");
  EXPECT_EQ(Json::parse(body), Json::parse(R"({"scope": "metrics"})"));
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

TEST_F(CliTest, LogsFollowReadsTheConsoleStreamToItsResult) {
  Serve([](const HttpRequest& r) {
    HttpResponse resp;
    EXPECT_EQ(r.Path(), "/v1/vms/web/console");
    EXPECT_EQ(r.Query()["offset"], "0");
    resp.status = 101;
    resp.websocket = [](WsConn& ws) {
      ws.Send(Msg(StreamType::kStdout), "boot\n").ok();
      ws.Send(Msg(StreamType::kStdout), "bye\n").ok();
      ws.Send(Msg(StreamType::kResult), R"({"next_offset": 9, "state": "stopped"})").ok();
      ws.Close(1000);
    };
    return resp;
  });
  auto r = Run({"vm", "logs", "web", "--follow"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "boot\nbye\n");
}

TEST_F(CliTest, EventsFollowPrintsTheEventStream) {
  Serve([](const HttpRequest& r) {
    HttpResponse resp;
    EXPECT_EQ(r.Path(), "/v1/events/stream");
    EXPECT_EQ(r.Query()["after"], "5");
    resp.status = 101;
    resp.websocket = [](WsConn& ws) {
      ws.Send(Msg(StreamType::kEvent), R"({"seq":6,"type":"vm.created"})").ok();
      ws.Send(Msg(StreamType::kError), R"({"code":"unavailable","message":"bangerd is stopping"})").ok();
      ws.Close(1000);
    };
    return resp;
  });
  auto r = Run({"events", "--after", "5", "--follow"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "{\"seq\":6,\"type\":\"vm.created\"}\n");
  EXPECT_EQ(r.err, "banger: bangerd is stopping\n");
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
