// The tools `banger mcp` offers (docs/mcp.md): each has a name, a
// description written for an LLM, and parameters from which both its JSON
// Schema (tools/list) and the check of a call's arguments (tools/call) are
// made, so the two cannot disagree. Tools act through an McpBackend.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "cli/mcp_backend.h"
#include "model/json.h"

namespace banger {

enum class McpParamType {
  kString,
  kInteger,
  kBoolean,
  kStringMap,    // an object of string values
  kStringArray,  // a non-empty array of strings
  kCommand,      // a non-empty string (run by /bin/sh -c) or a non-empty array of strings (argv)
};

struct McpParam {
  const char* name;
  McpParamType type;
  bool required;
  const char* description;
  int64_t min = 0, max = 0;  // kInteger: inclusive range
};

// What a tool call returns: text for the model, and (when not null) the
// same facts as an object (MCP structuredContent). An is_error result is a
// failed call the model should read (unknown VM, guest failure), not a
// protocol error.
struct McpToolResult {
  std::string text;
  Json structured;
  bool is_error = false;
};

struct McpTool {
  const char* name;
  const char* title;
  const char* description;
  std::vector<McpParam> params;
  bool read_only = false;
  bool destructive = false;
  bool idempotent = false;
  std::function<McpToolResult(McpBackend&, const Json& args)> run;
};

// Every tool, in the order tools/list shows them.
const std::vector<McpTool>& McpTools();
const McpTool* FindMcpTool(const std::string& name);

// The tool's inputSchema (JSON Schema, draft 2020-12 subset).
Json McpInputSchema(const McpTool& tool);
// Checks `args` against the tool's parameters: an object, every required
// one present, no unknown one, each of its type and range. The error is
// the message of a JSON-RPC "invalid params" error.
Status CheckMcpArgs(const McpTool& tool, const Json& args);

// A VM reference as the tools take it: a VM name or an id (prefix); the
// error says what a name may be.
Status ValidateVmRef(const std::string& ref);

// The console log's resources (mcp_server.cc uses them too): the URI of
// VM `name`'s console, and the name in such a URI ("" when it is not one).
std::string ConsoleUri(const std::string& name);
std::string VmOfConsoleUri(const std::string& uri);
// The last `max_bytes` of VM `ref`'s console log (reads it through the API).
Result<std::string> ConsoleTail(McpBackend& api, const std::string& ref, size_t max_bytes);
inline constexpr size_t kConsoleTailBytes = 64 * 1024;

}  // namespace banger
