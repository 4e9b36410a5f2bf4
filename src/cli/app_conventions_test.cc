// docker's CLI habits (docs/cli.md "Output formats", "Aliases"): --format and
// -q on every list, the aliases, --cpus/--memory sizes, --env-file, logs
// --tail, banger version; against a fake daemon.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "api/stream.h"
#include "base/fs.h"
#include "cli/cli_test_fixture.h"
#include "http/ws.h"

namespace banger {
namespace {

// A fake daemon holding one item in each list.
void ServeLists(CliTest& t) {
  t.Serve([](const HttpRequest& r) {
    const std::string p = r.Path();
    if (p == "/v1/vms") {
      return CliTest::Answer(200, Json::parse(R"({"vms": [{"id": "0123456789abcdef0123456789abcdef",
        "name": "web", "state": "running", "runtime": {"guest_ip": "172.16.0.2"}}]})"));
    }
    if (p == "/v1/images")
      return CliTest::Answer(200, Json::parse(R"({"images": [{"id": "img0123456789abc", "name": "base"}]})"));
    if (p == "/v1/sessions")
      return CliTest::Answer(200, Json::parse(R"({"sessions": [{"id": "s0123", "name": "svc"}]})"));
    if (p == "/v1/templates") return CliTest::Answer(200, Json::parse(R"({"templates": [{"id": "t0123"}]})"));
    if (p == "/v1/vms/web/snapshots") {
      return CliTest::Answer(200, Json::parse(R"({"snapshots": [{"id": "sn1", "name": "snap-a"}]})"));
    }
    if (p == "/v1/vms/web/ports") {
      return CliTest::Answer(
          200, Json::parse(R"({"ports": [{"spec": "127.0.0.1:8080:80/tcp", "host_port": 8080}]})"));
    }
    if (p == "/v1/vms/web/workspaces") {
      return CliTest::Answer(200, Json::parse(R"({"workspaces": [{"guest_path": "/root/repo"}]})"));
    }
    return CliTest::NotFound("route " + p);
  });
}

TEST_F(CliTest, EveryListTakesQuietAndFormat) {
  ServeLists(*this);
  const std::vector<std::pair<std::vector<std::string>, std::string>> lists = {
      {{"vm", "list"}, "0123456789abcdef0123456789abcdef"},
      {{"vm", "ls"}, "0123456789abcdef0123456789abcdef"},
      {{"vm", "ps"}, "0123456789abcdef0123456789abcdef"},
      {{"ps"}, "0123456789abcdef0123456789abcdef"},
      {{"image", "ls"}, "img0123456789abc"},
      {{"session", "ls"}, "s0123"},
      {{"image", "template", "ls"}, "t0123"},
      {{"vm", "snapshot", "ls", "web"}, "snap-a"},
      {{"vm", "port", "ls", "web"}, "127.0.0.1:8080:80/tcp"},
      {{"workspace", "ls", "web"}, "/root/repo"},
  };
  for (const auto& [args, id] : lists) {
    auto q = args;
    q.push_back("-q");
    auto r = Run(q);
    EXPECT_EQ(r.code, 0) << q[0] << " " << r.err;
    EXPECT_EQ(r.out, id + "\n") << q[0] << " " << q[1];

    auto t = args;
    t.insert(t.end(), {"--format", "{{json .}}"});
    r = Run(t);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(Json::parse(r.out).is_object(), true) << r.out;

    auto y = args;
    y.insert(y.end(), {"--format", "yaml"});
    r = Run(y);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("- ", 0), 0U) << r.out;

    auto j = args;
    j.insert(j.end(), {"--format", "json"});
    auto j2 = args;
    j2.push_back("--json");
    EXPECT_EQ(Run(j).out, Run(j2).out);
  }
}

TEST_F(CliTest, VmListTemplatesAndTheIdColumn) {
  ServeLists(*this);
  auto r = Run({"vm", "ls", "--format", "{{.Name}} {{.Runtime.GuestIP}}"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "web 172.16.0.2\n");
  r = Run({"vm", "ls", "--format", "table {{.ID}}\\t{{.Name}}"});
  EXPECT_EQ(r.out,
            "ID                                 NAME\n"
            "0123456789abcdef0123456789abcdef   web\n");
  r = Run({"vm", "list"});
  EXPECT_EQ(r.out.rfind("ID             NAME   STATE", 0), 0U) << r.out;
  EXPECT_NE(r.out.find("\n0123456789ab   web    running"), std::string::npos) << r.out;
}

TEST_F(CliTest, BadFormatsFailBeforeTheDaemon) {
  auto r = Run({"vm", "ls", "--format", "{{.Name"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "banger: --format: template: unclosed action at byte 1 (no \"}}\")\n");
  r = Run({"image", "ls", "--format", "{{title .Name}}"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "banger: --format: template: unknown function \"title\" in {{title .Name}} (supported: json, "
            "upper, lower)\n");
  r = Run({"session", "ls", "-q", "--json"});
  EXPECT_EQ(r.err, "banger: --quiet prints ids only: it does not go with --format or --json\n");
  EXPECT_EQ(Run({"vm", "ls", "--format", "xml"}).code, 1);
  EXPECT_FALSE(PathExists(home_.DaemonOut()));
}

TEST_F(CliTest, DeleteAliases) {
  Serve([](const HttpRequest& r) {
    if (r.method == "DELETE") return Answer(200, {{"deleted", true}, {"id", "x"}});
    return NotFound("route");
  });
  EXPECT_EQ(Run({"vm", "rm", "web"}).out, "web\n");
  EXPECT_EQ(Run({"image", "rm", "base"}).code, 0);
  EXPECT_EQ(Run({"vm", "snapshot", "rm", "web", "snap-a"}).code, 0);
  EXPECT_EQ(Run({"image", "template", "rm", "t0123"}).code, 0);
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 4U);
  EXPECT_EQ(reqs[0].Path(), "/v1/vms/web");
  EXPECT_EQ(reqs[1].Path(), "/v1/images/base");
  EXPECT_EQ(reqs[2].Path(), "/v1/vms/web/snapshots/snap-a");
  EXPECT_EQ(reqs[3].Path().rfind("/v1/templates/t0123", 0), 0U);
}

TEST_F(CliTest, CpusAndMemorySizes) {
  Serve([](const HttpRequest&) { return Answer(201, {{"name", "web"}}); });
  EXPECT_EQ(Run({"vm", "create", "--cpus", "3", "--memory", "2G"}).code, 0);
  EXPECT_EQ(Run({"vm", "create", "--vcpus", "1", "--memory", "768"}).code, 0);
  EXPECT_EQ(Run({"vm", "set", "web", "--cpus", "2", "--memory", "1gib"}).code, 0);
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(Json::parse(reqs[0].body)["vcpu_count"], 3);
  EXPECT_EQ(Json::parse(reqs[0].body)["memory_mib"], 2048);
  EXPECT_EQ(Json::parse(reqs[1].body)["memory_mib"], 768);
  EXPECT_EQ(Json::parse(reqs[2].body)["vcpu_count"], 2);
  EXPECT_EQ(Json::parse(reqs[2].body)["memory_mib"], 1024);
  auto bad = Run({"vm", "run", "--memory", "1.5G", "--", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_EQ(bad.err,
            "banger: --memory \"1.5G\": want a whole number with an optional K, M, G or T suffix (2G, 1536M, "
            "not 1.5G)\n");
}

TEST_F(CliTest, EnvFileOnSessionStartRunAndExec) {
  Serve([](const HttpRequest& r) {
    if (r.Path() == "/v1/vms/web/sessions") return Answer(201, {{"name", "svc-1"}});
    return NotFound("route");
  });
  std::string file = home_.root + "/app.env";
  { std::ofstream(file) << "# comment\n\nA=from-file\n  B=two words \nFROM_SHELL\nUNSET_IN_SHELL_XYZ\n"; }
  ::setenv("FROM_SHELL", "shell-value", 1);
  // (No "--": the fixture appends --home after the arguments.)
  auto r = Run({"session", "start", "web", "--env-file", file, "-e", "B=flag"});
  ::unsetenv("FROM_SHELL");
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(Requests().size(), 1U);
  EXPECT_EQ(Json::parse(Requests()[0].body)["env"],
            Json::parse(R"({"A": "from-file", "B": "flag", "FROM_SHELL": "shell-value"})"));

  std::string bad = home_.root + "/bad.env";
  { std::ofstream(bad) << "OK=1\n9LIVES=x\n"; }
  for (const auto& verb :
       std::vector<std::vector<std::string>>{{"run", "--env-file", bad, "--", "true"},
                                             {"exec", "web", "--env-file", bad, "--", "true"},
                                             {"vm", "run", "--env-file", bad, "--", "true"}}) {
    auto e = Run(verb);
    EXPECT_EQ(e.code, 125) << verb[0];
    EXPECT_EQ(e.err, "banger: " + bad +
                         ":2: variable name \"9LIVES\" must be letters, digits and _ (not starting with a "
                         "digit)\n");
  }
  auto missing =
      Run({"exec", "web", "--env-file", home_.root + "/none.env", "-w", "/srv", "-u", "app", "--", "true"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_EQ(missing.err.rfind("banger: --env-file " + home_.root + "/none.env: ", 0), 0U) << missing.err;
  EXPECT_EQ(Requests().size(), 1U);
}

TEST_F(CliTest, LogsTailAndSince) {
  std::vector<std::string> sinces;
  Serve([&sinces](const HttpRequest& r) {
    HttpResponse resp;
    resp.content_type = "application/octet-stream";
    auto q = r.Query();
    std::string offset = q.count("offset") != 0 ? q["offset"] : "";
    if (q.count("since") != 0) {
      EXPECT_EQ(offset, "") << "since picks the offset; never both";
      sinces.push_back(q["since"]);
      offset = "4";  // what the daemon's time index would answer
    }
    resp.body = offset == "0" ? "one\ntwo\n" : offset == "4" ? "two\n" : offset == "8" ? "three\nfour" : "";
    resp.headers["X-Banger-Next-Offset"] = std::to_string(std::stoi(offset) + resp.body.size());
    return resp;
  });
  auto r = Run({"vm", "logs", "web", "--tail", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "three\nfour");
  EXPECT_EQ(Run({"vm", "logs", "web", "-n", "0"}).out, "");
  EXPECT_EQ(Run({"vm", "logs", "web", "--tail", "all"}).out, "one\ntwo\nthree\nfour");
  auto bad = Run({"vm", "logs", "web", "--tail", "-3"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "banger: --tail wants a number of lines or \"all\", got \"-3\"\n");

  // --since: the first read asks by time, the rest go on by offset.
  const double before = static_cast<double>(std::time(nullptr));
  auto since = Run({"vm", "logs", "web", "--since", "10m"});
  EXPECT_EQ(since.code, 0) << since.err;
  EXPECT_EQ(since.out, "two\nthree\nfour");
  ASSERT_EQ(sinces.size(), 1u);
  const double asked = std::stod(sinces[0]);
  EXPECT_GE(asked, before - 601);
  EXPECT_LE(asked, static_cast<double>(std::time(nullptr)) - 599);
  EXPECT_EQ(Run({"vm", "logs", "web", "--since", "1h30m", "--tail", "1"}).out, "four");
  EXPECT_EQ(Run({"vm", "logs", "web", "--since", "2026-11-30T16:00:00Z"}).out, "two\nthree\nfour");
  EXPECT_EQ(sinces.back(), "1796054400.000");
  EXPECT_EQ(Run({"vm", "logs", "web", "--since", "1796054400.25"}).out, "two\nthree\nfour");
  EXPECT_EQ(sinces.back(), "1796054400.250");
  auto wrong = Run({"vm", "logs", "web", "--since", "10 minutes"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_EQ(
      wrong.err,
      "banger: --since wants a duration (10m, 1h30m, 2s), an RFC 3339 UTC time (2026-11-30T16:00:00Z) or "
      "unix seconds, got \"10 minutes\"\n");
  EXPECT_EQ(sinces.size(), 4u) << "a bad --since asks nothing";
}

TEST_F(CliTest, LogsTailThenFollowFromWhereTheTailEnded) {
  Serve([](const HttpRequest& r) {
    HttpResponse resp;
    if (r.Path() == "/v1/vms/web/console") {
      EXPECT_EQ(r.Query()["offset"], "8");
      resp.status = 101;
      resp.websocket = [](WsConn& ws) {
        ws.Send(Msg(StreamType::kStdout), "new\n").ok();
        ws.Send(Msg(StreamType::kResult), R"({"next_offset": 12, "state": "stopped"})").ok();
        ws.Close(1000);
      };
      return resp;
    }
    std::string offset = r.Query()["offset"];
    resp.content_type = "application/octet-stream";
    resp.body = offset == "0" ? "one\ntwo\n" : "";
    resp.headers["X-Banger-Next-Offset"] = std::to_string(std::stoi(offset) + resp.body.size());
    return resp;
  });
  auto r = Run({"vm", "logs", "web", "--tail", "1", "-f"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "two\nnew\n");
}

TEST_F(CliTest, VersionWithoutADaemonSaysSoAndFails) {
  auto r = Run({"version"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "Client:\n Version:     0.1.0\n API version: 1\n OS/Arch:     linux/amd64\n");
  EXPECT_EQ(r.err, "banger: bangerd is not running (it starts on demand; `banger daemon status`)\n");
  EXPECT_FALSE(PathExists(home_.DaemonOut()));
  auto j = Run({"version", "--format", "json"});
  EXPECT_EQ(j.code, 1);
  EXPECT_EQ(Json::parse(j.out)["server"], nullptr);
  EXPECT_EQ(Json::parse(j.out)["client"]["version"], "0.1.0");
}

TEST_F(CliTest, VersionWithTheDaemon) {
  Serve([](const HttpRequest&) { return NotFound("route"); });
  auto r = Run({"version"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\nServer: bangerd\n Version:     0.1.0\n"), std::string::npos) << r.out;
  auto t = Run({"version", "--format", "{{.Client.Version}} {{.Server.Version}} {{.Server.Pid}}"});
  EXPECT_EQ(t.out, "0.1.0 0.1.0 1\n");
  EXPECT_EQ(Run({"--version"}).out, "banger 0.1.0\n");
}

}  // namespace
}  // namespace banger
