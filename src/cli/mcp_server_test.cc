// The JSON-RPC framing and MCP methods of `banger mcp`, against a fake
// backend (cli/mcp_fake_test.h): no daemon, no guest.
#include "cli/mcp_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "cli/mcp_fake_test.h"
#include "cli/mcp_tools.h"

namespace banger {
namespace {

class McpServerTest : public ::testing::Test {
 protected:
  FakeMcpBackend api;
  McpServer server{api, "9.8.7"};

  Json Ask(const Json& msg) {
    auto r = server.Handle(msg);
    EXPECT_TRUE(r.has_value()) << msg.dump();
    return r ? *r : Json();
  }
  Json Request(const std::string& method, const Json& params = Json::object(), const Json& id = 1) {
    return Ask({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
  }
  Json Tool(const std::string& name, const Json& args) {
    return Request("tools/call", {{"name", name}, {"arguments", args}});
  }
  static int Code(const Json& answer) { return answer.value("error", Json::object()).value("code", 0); }
  static std::string Text(const Json& answer) { return answer["result"]["content"][0]["text"]; }
  static bool IsError(const Json& answer) { return answer["result"]["isError"]; }
};

TEST_F(McpServerTest, InitializeNegotiatesTheVersion) {
  Json r = Request("initialize", {{"protocolVersion", "2025-06-18"}, {"capabilities", Json::object()}});
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "banger");
  EXPECT_EQ(r["result"]["serverInfo"]["version"], "9.8.7");
  EXPECT_TRUE(r["result"]["capabilities"].contains("tools"));
  EXPECT_TRUE(r["result"]["capabilities"].contains("resources"));

  EXPECT_EQ(Request("initialize", {{"protocolVersion", "2025-03-26"}})["result"]["protocolVersion"],
            "2025-03-26");
  EXPECT_EQ(server.protocol_version(), "2025-03-26");
  // A version this server does not know: it answers with its latest.
  EXPECT_EQ(Request("initialize", {{"protocolVersion", "2099-01-01"}})["result"]["protocolVersion"],
            "2025-06-18");
  EXPECT_EQ(Code(Request("initialize", Json::object())), kRpcInvalidParams);
  EXPECT_EQ(Code(Request("initialize", {{"protocolVersion", 3}})), kRpcInvalidParams);
}

TEST_F(McpServerTest, MalformedMessagesAreJsonRpcErrors) {
  auto line = server.HandleLine("{\"jsonrpc\": \"2.0\", ");
  ASSERT_TRUE(line);
  Json r = Json::parse(*line);
  EXPECT_EQ(Code(r), kRpcParseError);
  EXPECT_TRUE(r["id"].is_null());

  EXPECT_EQ(Code(Ask(Json::array({Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}}))),
            kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask(42)), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask("ping")), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"id", 1}, {"method", "ping"}})), kRpcInvalidRequest);  // no jsonrpc
  EXPECT_EQ(Code(Ask({{"jsonrpc", "1.0"}, {"id", 1}, {"method", "ping"}})), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"jsonrpc", "2.0"}, {"id", 1}, {"method", 7}})), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"jsonrpc", "2.0"}, {"id", 1}})), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"jsonrpc", "2.0"}, {"id", nullptr}, {"method", "ping"}})), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"jsonrpc", "2.0"}, {"id", 1.5}, {"method", "ping"}})), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"jsonrpc", "2.0"}, {"id", true}, {"method", "ping"}})), kRpcInvalidRequest);
  EXPECT_EQ(Code(Ask({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}, {"params", Json::array()}})),
            kRpcInvalidParams);
  Json unknown = Request("no/such", Json::object(), "abc");
  EXPECT_EQ(Code(unknown), kRpcMethodNotFound);
  EXPECT_EQ(unknown["id"], "abc");
}

TEST_F(McpServerTest, NotificationsAndResponsesGetNoAnswer) {
  EXPECT_FALSE(server.Handle({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}));
  EXPECT_FALSE(server.Handle(
      {{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 3}}}}));
  EXPECT_FALSE(server.Handle({{"jsonrpc", "2.0"}, {"method", "whatever/else"}}));
  EXPECT_FALSE(server.Handle({{"jsonrpc", "2.0"}, {"id", 9}, {"result", Json::object()}}));
  EXPECT_EQ(Request("ping")["result"], Json::object());
}

TEST_F(McpServerTest, ToolsListHasASchemaPerTool) {
  Json r = Request("tools/list");
  std::vector<std::string> names;
  for (const auto& t : r["result"]["tools"]) {
    names.push_back(t["name"]);
    EXPECT_EQ(t["inputSchema"]["type"], "object") << t["name"];
    EXPECT_EQ(t["inputSchema"]["additionalProperties"], false) << t["name"];
    EXPECT_FALSE(t["description"].get<std::string>().empty());
    EXPECT_TRUE(t["annotations"].contains("readOnlyHint"));
  }
  for (const char* want : {"vm_create", "vm_list", "vm_delete", "vm_start", "vm_stop", "vm_exec", "file_read",
                           "file_write", "file_list", "vm_snapshot", "vm_fork"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  const McpTool* exec = FindMcpTool("vm_exec");
  ASSERT_TRUE(exec);
  Json s = McpInputSchema(*exec);
  EXPECT_EQ(s["required"], Json::array({"vm", "command"}));
  EXPECT_TRUE(s["properties"]["command"].contains("anyOf"));
  EXPECT_EQ(s["properties"]["timeout_s"]["maximum"], 3600);
  EXPECT_EQ(Code(Request("tools/list", {{"cursor", "x"}})), kRpcInvalidParams);
}

TEST_F(McpServerTest, BadArgumentsAreInvalidParams) {
  EXPECT_EQ(Code(Tool("no_such_tool", Json::object())), kRpcInvalidParams);
  EXPECT_EQ(Code(Request("tools/call", {{"arguments", Json::object()}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", ""}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", Json::array()}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", Json::array({"ls", 3})}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", "x"}, {"extra", 1}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", "x"}, {"timeout_s", 0}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", "x"}, {"timeout_s", 3601}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", "x"}, {"timeout_s", UINT64_MAX}})),
            kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", "a"}, {"command", "x"}, {"timeout_s", 2.5}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_exec", {{"vm", 5}, {"command", "x"}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Tool("vm_create", {{"labels", {{"a", 1}}}})), kRpcInvalidParams);
  EXPECT_EQ(Code(Request("tools/call", {{"name", "vm_list"}, {"arguments", "x"}})), kRpcInvalidParams);
  EXPECT_TRUE(api.calls.empty());  // nothing reached the daemon
}

TEST_F(McpServerTest, ABadVmNameIsAToolErrorWithoutACall) {
  Json r = Tool("vm_exec", {{"vm", "../../etc"}, {"command", "true"}});
  EXPECT_TRUE(IsError(r));
  EXPECT_NE(Text(r).find("invalid vm name"), std::string::npos) << Text(r);
  EXPECT_TRUE(api.calls.empty());
}

TEST_F(McpServerTest, ExecRunsAShellStringOrAnArgv) {
  ExecVmRequest seen;
  std::chrono::milliseconds deadline{};
  api.exec = [&](const std::string& ref, const ExecVmRequest& req, const std::string& in,
                 std::chrono::milliseconds d) -> Result<ExecOutcome> {
    seen = req;
    deadline = d;
    ExecOutcome o;
    o.exit_code = ref == "web" ? 0 : 3;
    o.out = in.empty() ? "hello\n" : in;
    o.out_bytes = o.out.size();
    o.err = "warn";
    return o;
  };
  Json r = Tool("vm_exec", {{"vm", "web"}, {"command", "echo hello | cat"}});
  EXPECT_FALSE(IsError(r));
  EXPECT_EQ(seen.argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hello | cat"}));
  EXPECT_EQ(deadline, std::chrono::seconds(120));
  EXPECT_EQ(Text(r), "exit code 0\nstdout:\nhello\nstderr:\nwarn\n");
  EXPECT_EQ(r["result"]["structuredContent"]["stdout"], "hello\n");
  EXPECT_EQ(r["result"]["structuredContent"]["exit_code"], 0);

  r = Tool("vm_exec", {{"vm", "db"},
                       {"command", {"cat", "-"}},
                       {"stdin", "in"},
                       {"timeout_s", 7},
                       {"cwd", "/tmp"},
                       {"user", "app"},
                       {"env", {{"K", "V"}}}});
  EXPECT_FALSE(IsError(r));  // exit code 3 is a result, not a tool failure
  EXPECT_EQ(r["result"]["structuredContent"]["exit_code"], 3);
  EXPECT_EQ(seen.argv, (std::vector<std::string>{"cat", "-"}));
  EXPECT_EQ(seen.cwd, "/tmp");
  EXPECT_EQ(seen.user, "app");
  EXPECT_EQ(seen.env.at("K"), "V");
  EXPECT_EQ(seen.agent_timeout, std::chrono::seconds(7));
  EXPECT_EQ(deadline, std::chrono::seconds(7));
  EXPECT_EQ(api.calls.back().body, "in");
}

TEST_F(McpServerTest, ExecFailuresAndTimeoutsAreToolErrors) {
  Json r = Tool("vm_exec", {{"vm", "ghost"}, {"command", "true"}});
  EXPECT_TRUE(IsError(r));
  EXPECT_EQ(Text(r), "no such vm: ghost");
  api.exec = [](const std::string&, const ExecVmRequest&, const std::string&,
                std::chrono::milliseconds) -> Result<ExecOutcome> {
    ExecOutcome o;
    o.timed_out = true;
    o.exit_code = 137;
    o.out = "partial";
    return o;
  };
  r = Tool("vm_exec", {{"vm", "slow"}, {"command", "sleep 99"}, {"timeout_s", 2}});
  EXPECT_TRUE(IsError(r));
  EXPECT_EQ(Text(r).rfind("timed out after 2 s", 0), 0u) << Text(r);
  EXPECT_EQ(r["result"]["structuredContent"]["stdout"], "partial");
}

TEST_F(McpServerTest, OlderClientsGetNoStructuredContent) {
  Request("initialize", {{"protocolVersion", "2025-03-26"}});
  api.json.insert_or_assign("GET /v1/vms", Json{{"vms", Json::array()}});
  Json r = Tool("vm_list", Json::object());
  EXPECT_FALSE(r["result"].contains("structuredContent"));
  EXPECT_EQ(Text(r), "no vms\n");
}

TEST_F(McpServerTest, VmToolsCallTheApi) {
  Json vm = {{"name", "web"},
             {"id", "0123456789abcdef"},
             {"state", "running"},
             {"spec", {{"vcpu_count", 2}, {"memory_mib", 512}}},
             {"runtime", {{"guest_ip", "172.16.0.2"}}},
             {"labels", {{"team", "a"}}}};
  api.json.insert_or_assign("POST /v1/vms", vm);
  Json r = Tool(
      "vm_create",
      {{"name", "web"}, {"vcpus", 2}, {"memory_mib", 512}, {"labels", {{"team", "a"}}}, {"image", nullptr}});
  EXPECT_FALSE(IsError(r)) << Text(r);
  EXPECT_EQ(Text(r), "created vm web: running (2 vCPU, 512 MiB, ip 172.16.0.2, labels {\"team\":\"a\"})");
  Json body = Json::parse(api.calls.back().body);
  EXPECT_EQ(body["name"], "web");
  EXPECT_EQ(body["vcpu_count"], 2);
  EXPECT_EQ(body["memory_mib"], 512);
  EXPECT_EQ(body["labels"]["team"], "a");

  api.json.insert_or_assign("GET /v1/vms?label=team%3Da", Json{{"vms", Json::array({vm})}});
  r = Tool("vm_list", {{"labels", {{"team", "a"}}}});
  EXPECT_EQ(r["result"]["structuredContent"]["vms"][0]["name"], "web");

  api.json.insert_or_assign("POST /v1/vms", Error::Conflict("a vm named \"web\" already exists"));
  r = Tool("vm_create", {{"name", "web"}});
  EXPECT_TRUE(IsError(r));
  EXPECT_EQ(Text(r), "a vm named \"web\" already exists");

  api.json.insert_or_assign("DELETE /v1/vms/web", Json{{"deleted", true}, {"id", "0123"}});
  EXPECT_EQ(Text(Tool("vm_delete", {{"vm", "web"}})), "deleted vm web");
  api.json.insert_or_assign("POST /v1/vms/web/fork", Json{{"vms", Json::array({vm})}});
  r = Tool("vm_fork", {{"vm", "web"}, {"name", "c"}, {"count", 2}});
  EXPECT_EQ(Json::parse(api.calls.back().body), (Json{{"name", "c"}, {"count", 2}}));
  api.json.insert_or_assign("POST /v1/vms/web/snapshots", Json{{"name", "s1"}, {"bytes_on_disk", 10}});
  r = Tool("vm_snapshot", {{"vm", "web"}, {"name", "s1"}});
  EXPECT_FALSE(IsError(r));
  EXPECT_EQ(r["result"]["structuredContent"]["name"], "s1");
  // An answer of an unexpected shape: a result still, never a crash.
  api.json.insert_or_assign("POST /v1/vms/web/start", Json{{"name", 5}, {"spec", "x"}});
  r = Tool("vm_start", {{"vm", "web"}});
  EXPECT_TRUE(r.contains("result") || r.contains("error"));
  EXPECT_EQ(Request("ping")["result"], Json::object());
}

TEST_F(McpServerTest, FilesTextBinaryAndDirectories) {
  HttpResponse text;
  text.content_type = "application/octet-stream";
  text.body = "h\xc3\xa9llo\n";
  api.raw.insert_or_assign("GET /v1/vms/web/files?path=%2Fetc%2Fhostname", text);
  Json r = Tool("file_read", {{"vm", "web"}, {"path", "/etc/hostname"}});
  EXPECT_EQ(Text(r), text.body);
  EXPECT_EQ(r["result"]["structuredContent"]["encoding"], "utf-8");

  HttpResponse bin = text;
  bin.body = std::string("\0\x01\xff", 3);
  api.raw.insert_or_assign("GET /v1/vms/web/files?path=%2Fbin.dat", bin);
  r = Tool("file_read", {{"vm", "web"}, {"path", "/bin.dat"}});
  EXPECT_EQ(r["result"]["structuredContent"]["encoding"], "base64");
  EXPECT_EQ(r["result"]["structuredContent"]["content"], "AAH/");

  HttpResponse dir;
  dir.body = "{}";
  api.raw.insert_or_assign("GET /v1/vms/web/files?path=%2Froot", dir);
  r = Tool("file_read", {{"vm", "web"}, {"path", "/root"}});
  EXPECT_TRUE(IsError(r));
  EXPECT_EQ(Text(r), "/root is a directory: use file_list");

  api.raw.insert_or_assign("PUT /v1/vms/web/files?path=%2Fx&mode=0755", HttpResponse{});
  r = Tool("file_write",
           {{"vm", "web"}, {"path", "/x"}, {"content", "AAH/"}, {"encoding", "base64"}, {"mode", "0755"}});
  EXPECT_FALSE(IsError(r)) << Text(r);
  EXPECT_EQ(api.calls.back().body, std::string("\0\x01\xff", 3));
  r = Tool("file_write", {{"vm", "web"}, {"path", "/x"}, {"content", "!!"}, {"encoding", "base64"}});
  EXPECT_TRUE(IsError(r));
  r = Tool("file_write", {{"vm", "web"}, {"path", "/x"}, {"content", "a"}, {"encoding", "latin1"}});
  EXPECT_TRUE(IsError(r));

  api.json.insert_or_assign("GET /v1/vms/web/files?path=%2Froot&stat=1", Json{{"type", "dir"}});
  api.json.insert_or_assign(
      "GET /v1/vms/web/files?path=%2Froot",
      Json{{"path", "/root"},
           {"entries", Json::array({{{"name", "a.txt"}, {"type", "file"}, {"size", 3}, {"mode", 0100644}},
                                    {{"name", "l"},
                                     {"type", "symlink"},
                                     {"size", 1},
                                     {"mode", 0777},
                                     {"link_target", "a.txt"}}})},
           {"truncated", false}});
  r = Tool("file_list", {{"vm", "web"}, {"path", "/root"}});
  EXPECT_EQ(Text(r), "/root: 2 entries\n- 0644 3 a.txt\nl 0777 1 l -> a.txt\n");
  api.json.insert_or_assign("GET /v1/vms/web/files?path=%2Fmissing&stat=1",
                            Error::NotFound("/missing: no such file or directory"));
  r = Tool("file_list", {{"vm", "web"}, {"path", "/missing"}});
  EXPECT_TRUE(IsError(r));
  EXPECT_EQ(Text(r), "/missing: no such file or directory");
}

TEST_F(McpServerTest, ConsoleResources) {
  api.json.insert_or_assign(
      "GET /v1/vms", Json{{"vms", Json::array({{{"name", "web"}}, {{"name", "db"}}, {{"bogus", 1}}})}});
  Json r = Request("resources/list");
  ASSERT_EQ(r["result"]["resources"].size(), 2u);
  EXPECT_EQ(r["result"]["resources"][0]["uri"], "banger://vms/web/console");
  EXPECT_EQ(r["result"]["resources"][0]["mimeType"], "text/plain");
  r = Request("resources/templates/list");
  EXPECT_EQ(r["result"]["resourceTemplates"][0]["uriTemplate"], "banger://vms/{name}/console");

  // Two pages of log: the tail of the last 64 KiB is kept.
  HttpResponse p1, p2;
  p1.body = std::string(1 << 20, 'a');
  p1.headers["x-banger-next-offset"] = std::to_string(1 << 20);
  p2.body = "boot ok\n";
  p2.headers["x-banger-next-offset"] = std::to_string((1 << 20) + 8);
  api.raw.insert_or_assign("GET /v1/vms/web/logs?offset=0", p1);
  api.raw.insert_or_assign("GET /v1/vms/web/logs?offset=" + std::to_string(1 << 20), p2);
  r = Request("resources/read", {{"uri", "banger://vms/web/console"}});
  std::string text = r["result"]["contents"][0]["text"];
  EXPECT_EQ(r["result"]["contents"][0]["uri"], "banger://vms/web/console");
  EXPECT_EQ(text.rfind("[... earlier output omitted ...]\n", 0), 0u);
  EXPECT_EQ(text.substr(text.size() - 8), "boot ok\n");
  EXPECT_LE(text.size(), kConsoleTailBytes + 64);

  api.raw.insert_or_assign("GET /v1/vms/ghost/logs?offset=0", Error::NotFound("no such vm: ghost"));
  EXPECT_EQ(Code(Request("resources/read", {{"uri", "banger://vms/ghost/console"}})), kMcpResourceNotFound);
  EXPECT_EQ(Code(Request("resources/read", {{"uri", "banger://vms/../console"}})), kMcpResourceNotFound);
  EXPECT_EQ(Code(Request("resources/read", {{"uri", "file:///etc/passwd"}})), kMcpResourceNotFound);
  EXPECT_EQ(Code(Request("resources/read", Json::object())), kRpcInvalidParams);
}

TEST(BoundedOutputTest, KeepsHeadAndTail) {
  BoundedOutput small(4, 4);
  small.Append("abc");
  small.Append("defgh");
  EXPECT_FALSE(small.truncated());
  EXPECT_EQ(small.Text(), "abcdefgh");
  BoundedOutput big(4, 4);
  big.Append("0123");
  for (int i = 0; i < 100; ++i) big.Append("x");
  big.Append("wxyz9");
  EXPECT_TRUE(big.truncated());
  EXPECT_EQ(big.total(), 109u);
  EXPECT_EQ(big.Text(), "0123\n[... 101 bytes omitted (109 in all) ...]\nxyz9");
  BoundedOutput one(2, 3);
  one.Append(std::string(1000, 'a') + "end");
  EXPECT_EQ(one.Text(), "aa\n[... 998 bytes omitted (1003 in all) ...]\nend");
}

// The stdio loop: CRLF and blank lines, a line over the bound refused and
// skipped, and a last line without its newline.
TEST(ServeMcpTest, LinesOverAPipe) {
  FakeMcpBackend api;
  McpServer server(api, "1.0.0");
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  std::thread writer([w = in[1]] {
    auto put = [w](const std::string& s) {
      size_t off = 0;
      while (off < s.size()) {
        ssize_t n = ::write(w, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += static_cast<size_t>(n);
      }
    };
    put("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n   \n");
    put(std::string(kMcpMaxLine + 10, 'x') + "\n");
    put("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
    put("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
    ::close(w);
  });
  std::string got;
  std::thread reader([r = out[0], &got] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(r, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  ServeMcp(server, in[0], out[1]);
  ::close(out[1]);
  writer.join();
  reader.join();
  ::close(in[0]);
  ::close(out[0]);
  std::vector<Json> lines;
  size_t start = 0;
  for (size_t nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(Json::parse(got.substr(start, nl - start)));
  }
  ASSERT_EQ(lines.size(), 4u) << got;
  EXPECT_EQ(lines[0]["id"], 1);
  EXPECT_EQ(lines[1]["error"]["code"], kRpcInvalidRequest);
  EXPECT_EQ(lines[2]["id"], 2);
  EXPECT_EQ(lines[3]["id"], 3);
}

}  // namespace
}  // namespace banger
