// The JSON-RPC 2.0 framing and the MCP methods of `banger mcp`
// (cli/mcp_server.h); the tools themselves are in cli/mcp_tools.cc.
#include "cli/mcp_server.h"

#include <unistd.h>

#include <array>
#include <exception>
#include <iostream>

#include "cli/mcp_tools.h"
#include "http/http.h"

namespace banger {
namespace {

constexpr std::array<const char*, 3> kKnownVersions = {"2025-06-18", "2025-03-26", "2024-11-05"};

constexpr const char* kInstructions =
    "banger runs Linux microVMs on this host. Create one with vm_create, run commands in it with "
    "vm_exec, move files with file_write/file_read/file_list, and delete it with vm_delete when done. "
    "Commands run inside the VM, never on the host. A VM's console log is the resource "
    "banger://vms/{name}/console.";

Json RpcError(const Json& id, int code, const std::string& message) {
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

// The optional params of a list method: an object whose cursor, if any, is
// one this server gave (it gives none: every list is one page).
bool CursorFree(const Json& params) { return !params.contains("cursor") || params["cursor"].is_null(); }

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string McpServer::TooLargeLine() {
  return SafeDump(RpcError(Json(), kRpcInvalidRequest,
                           "message larger than " + std::to_string(kMcpMaxLine >> 20) + " MiB refused"));
}

std::optional<std::string> McpServer::HandleLine(std::string_view line) {
  auto parsed = ParseJson(std::string(line));
  if (!parsed.ok())
    return SafeDump(RpcError(Json(), kRpcParseError, "parse error: " + parsed.error().message()));
  auto answer = Handle(*parsed);
  if (!answer) return std::nullopt;
  return SafeDump(*answer);
}

std::optional<Json> McpServer::Handle(const Json& msg) {
  if (msg.is_array()) return RpcError(Json(), kRpcInvalidRequest, "batches are not supported");
  if (!msg.is_object()) return RpcError(Json(), kRpcInvalidRequest, "a message must be a JSON object");
  auto id_it = msg.find("id");
  const bool has_id = id_it != msg.end();
  Json id = has_id ? *id_it : Json();
  if (has_id && !id.is_string() && !id.is_number_integer()) {
    return RpcError(Json(), kRpcInvalidRequest, "id must be a string or an integer");
  }
  auto jv = msg.find("jsonrpc");
  if (jv == msg.end() || *jv != "2.0") return RpcError(id, kRpcInvalidRequest, "jsonrpc must be \"2.0\"");
  auto m = msg.find("method");
  if (m == msg.end()) {
    // A response to a request of ours: this server sends none.
    if (has_id && (msg.contains("result") || msg.contains("error"))) return std::nullopt;
    return RpcError(id, kRpcInvalidRequest, "method is missing");
  }
  if (!m->is_string()) return RpcError(id, kRpcInvalidRequest, "method must be a string");
  const std::string method = m->get<std::string>();
  Json params = msg.value("params", Json::object());
  if (params.is_null()) params = Json::object();
  if (!has_id) {
    // Notifications (initialized, cancelled, progress...) need no answer;
    // requests are answered in order, so there is nothing to cancel.
    if (method == "notifications/initialized") std::clog << "banger mcp: client initialized" << std::endl;
    return std::nullopt;
  }
  if (!params.is_object()) return RpcError(id, kRpcInvalidParams, "params must be an object");
  Outcome out;
  try {
    out = Dispatch(method, params);
  } catch (const std::exception& e) {
    // An answer of an unexpected shape: this request fails, the server goes on.
    std::clog << "banger mcp: " << method << ": " << e.what() << std::endl;
    out = Err(kRpcInternalError, std::string("internal error: ") + e.what());
  }
  if (out.code != 0) return RpcError(id, out.code, out.message);
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(out.result)}};
}

McpServer::Outcome McpServer::Dispatch(const std::string& method, const Json& params) {
  if (method == "initialize") return Initialize(params);
  if (method == "ping") return {Json::object()};
  if (method == "tools/list") return ListTools(params);
  if (method == "tools/call") return CallTool(params);
  if (method == "resources/list") return ListResources(params);
  if (method == "resources/read") return ReadResource(params);
  if (method == "resources/templates/list") {
    if (!CursorFree(params)) return Err(kRpcInvalidParams, "unknown cursor");
    return {Json{{"resourceTemplates",
                  Json::array({{{"uriTemplate", "banger://vms/{name}/console"},
                                {"name", "vm-console"},
                                {"title", "VM console log"},
                                {"description",
                                 "The last 64 KiB of a VM's serial console (boot messages, kernel log)"},
                                {"mimeType", "text/plain"}}})}}};
  }
  return Err(kRpcMethodNotFound, "method not found: " + method);
}

McpServer::Outcome McpServer::Initialize(const Json& params) {
  auto v = params.find("protocolVersion");
  if (v == params.end() || !v->is_string())
    return Err(kRpcInvalidParams, "protocolVersion (a string) is required");
  // The client's version when this server speaks it, else the latest.
  protocol_ = kMcpProtocolVersion;
  for (const char* known : kKnownVersions) {
    if (*v == known) protocol_ = known;
  }
  std::clog << "banger mcp: client " << SafeDump(params.value("clientInfo", Json::object()))
            << " asked for protocol " << v->get<std::string>() << ", speaking " << protocol_ << std::endl;
  return {Json{
      {"protocolVersion", protocol_},
      {"capabilities",
       {{"tools", {{"listChanged", false}}}, {"resources", {{"subscribe", false}, {"listChanged", false}}}}},
      {"serverInfo", {{"name", "banger"}, {"title", "banger microVMs"}, {"version", version_}}},
      {"instructions", kInstructions}}};
}

McpServer::Outcome McpServer::ListTools(const Json& params) const {
  if (!CursorFree(params)) return Err(kRpcInvalidParams, "unknown cursor");
  Json tools = Json::array();
  for (const auto& t : McpTools()) {
    tools.push_back({{"name", t.name},
                     {"title", t.title},
                     {"description", t.description},
                     {"inputSchema", McpInputSchema(t)},
                     {"annotations",
                      {{"title", t.title},
                       {"readOnlyHint", t.read_only},
                       {"destructiveHint", t.destructive},
                       {"idempotentHint", t.idempotent},
                       {"openWorldHint", false}}}});
  }
  return {Json{{"tools", tools}}};
}

McpServer::Outcome McpServer::CallTool(const Json& params) {
  auto name = params.find("name");
  if (name == params.end() || !name->is_string())
    return Err(kRpcInvalidParams, "name (a string) is required");
  const McpTool* tool = FindMcpTool(name->get<std::string>());
  if (!tool) return Err(kRpcInvalidParams, "unknown tool: " + name->get<std::string>());
  Json args = params.value("arguments", Json::object());
  if (args.is_null()) args = Json::object();
  // A null argument is an absent one (as in the API's request bodies).
  if (args.is_object()) {
    for (auto it = args.begin(); it != args.end();) it = it->is_null() ? args.erase(it) : std::next(it);
  }
  if (auto st = CheckMcpArgs(*tool, args); !st.ok()) return Err(kRpcInvalidParams, st.error().message());
  McpToolResult r = tool->run(api_, args);
  if (r.is_error)
    std::clog << "banger mcp: " << tool->name << ": " << r.text.substr(0, r.text.find('\n')) << std::endl;
  Json result{{"content", Json::array({{{"type", "text"}, {"text", r.text}}})}, {"isError", r.is_error}};
  // Structured results are 2025-06-18's; older clients get the text only.
  if (protocol_ == kMcpProtocolVersion && r.structured.is_object())
    result["structuredContent"] = r.structured;
  return {result};
}

McpServer::Outcome McpServer::ListResources(const Json& params) {
  if (!CursorFree(params)) return Err(kRpcInvalidParams, "unknown cursor");
  auto got = api_.Call("GET", "/v1/vms", nullptr, kReadTimeout);
  if (!got.ok()) return Err(kRpcInternalError, got.error().message());
  Json resources = Json::array();
  Json vms = got->value("vms", Json::array());
  for (const auto& vm : vms.is_array() ? vms : Json::array()) {
    if (!vm.is_object() || !vm.contains("name") || !vm["name"].is_string()) continue;
    const std::string n = vm["name"].get<std::string>();
    resources.push_back({{"uri", ConsoleUri(n)},
                         {"name", n + "-console"},
                         {"title", "Console log of vm " + n},
                         {"description", "The last 64 KiB of vm " + n + "'s serial console"},
                         {"mimeType", "text/plain"}});
  }
  return {Json{{"resources", resources}}};
}

McpServer::Outcome McpServer::ReadResource(const Json& params) {
  auto uri_it = params.find("uri");
  if (uri_it == params.end() || !uri_it->is_string())
    return Err(kRpcInvalidParams, "uri (a string) is required");
  const std::string uri = uri_it->get<std::string>();
  const std::string vm = VmOfConsoleUri(uri);
  if (vm.empty() || !ValidateVmRef(vm).ok()) return Err(kMcpResourceNotFound, "resource not found: " + uri);
  auto tail = ConsoleTail(api_, vm, kConsoleTailBytes);
  if (!tail.ok()) {
    int code = tail.error().kind() == ErrorKind::kNotFound ? kMcpResourceNotFound : kRpcInternalError;
    return Err(code, tail.error().message());
  }
  std::string text = std::move(*tail);
  if (text.size() >= kConsoleTailBytes) text = "[... earlier output omitted ...]\n" + text;
  return {Json{{"contents", Json::array({{{"uri", uri}, {"mimeType", "text/plain"}, {"text", text}}})}}};
}

void ServeMcp(McpServer& server, int in_fd, int out_fd) {
  std::string buf;
  bool skipping = false;  // inside a line too long to keep
  std::string chunk(64 * 1024, '\0');
  auto answer = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return true;
    auto out = server.HandleLine(line);
    return !out || WriteAll(out_fd, *out + "\n");
  };
  for (;;) {
    ssize_t n = ::read(in_fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::string_view data(chunk.data(), static_cast<size_t>(n));
    while (!data.empty()) {
      size_t nl = data.find('\n');
      std::string_view part = data.substr(0, nl);
      data.remove_prefix(nl == std::string_view::npos ? data.size() : nl + 1);
      if (!skipping) buf.append(part);
      if (!skipping && buf.size() > kMcpMaxLine) {
        std::clog << "banger mcp: refused a message larger than " << (kMcpMaxLine >> 20) << " MiB"
                  << std::endl;
        if (!WriteAll(out_fd, McpServer::TooLargeLine() + "\n")) return;
        buf.clear();
        buf.shrink_to_fit();
        skipping = true;
      }
      if (nl == std::string_view::npos) break;
      if (!skipping && !answer(buf)) return;
      buf.clear();
      skipping = false;
    }
  }
  if (!skipping && !buf.empty()) answer(buf);  // a last line without its newline
}

}  // namespace banger
