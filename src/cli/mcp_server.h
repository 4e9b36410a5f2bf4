// `banger mcp`: a Model Context Protocol server (spec 2025-06-18; clients of
// 2025-03-26 and 2024-11-05 are answered in their version) over stdio:
// newline-delimited JSON-RPC 2.0 on stdin and stdout, logs on stderr only.
// Tools (cli/mcp_tools.h) drive VMs through an McpBackend; each VM's
// console log is a resource. See docs/mcp.md and docs/adr/0029.
//
// Requests are answered one at a time, in order. Nothing a client sends
// ends the server but the end of its input: malformed JSON, unknown methods
// and bad params are JSON-RPC errors, a failing tool is an isError result.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "cli/mcp_backend.h"
#include "model/json.h"

namespace banger {

inline constexpr const char* kMcpProtocolVersion = "2025-06-18";
// A line (one message) longer than this is refused, and skipped.
inline constexpr size_t kMcpMaxLine = size_t{16} << 20;

// JSON-RPC error codes (MCP adds -32002 for an unknown resource).
inline constexpr int kRpcParseError = -32700;
inline constexpr int kRpcInvalidRequest = -32600;
inline constexpr int kRpcMethodNotFound = -32601;
inline constexpr int kRpcInvalidParams = -32602;
inline constexpr int kRpcInternalError = -32603;
inline constexpr int kMcpResourceNotFound = -32002;

class McpServer {
 public:
  McpServer(McpBackend& api, std::string version) : api_(api), version_(std::move(version)) {}

  // One line of input; the line to write back (without its newline), or
  // nullopt for a notification or a response.
  std::optional<std::string> HandleLine(std::string_view line);
  // The same for a parsed message.
  std::optional<Json> Handle(const Json& msg);
  // The error that answers a line longer than kMcpMaxLine.
  static std::string TooLargeLine();

  // The protocol version agreed in initialize (the latest until then).
  const std::string& protocol_version() const { return protocol_; }

 private:
  struct Outcome {
    Json result;
    int code = 0;  // 0: result; else a JSON-RPC error with `message`
    std::string message;
  };
  static Outcome Err(int code, std::string message) { return {Json(), code, std::move(message)}; }

  Outcome Dispatch(const std::string& method, const Json& params);
  Outcome Initialize(const Json& params);
  Outcome ListTools(const Json& params) const;
  Outcome CallTool(const Json& params);
  Outcome ListResources(const Json& params);
  Outcome ReadResource(const Json& params);

  McpBackend& api_;
  std::string version_;
  std::string protocol_ = kMcpProtocolVersion;
};

// Serves `server` on in_fd/out_fd until in_fd ends (or out_fd fails): reads
// lines (at most kMcpMaxLine each), writes one answer line per request.
void ServeMcp(McpServer& server, int in_fd, int out_fd);

}  // namespace banger
