// A fake McpBackend for the MCP unit tests (test-only, never linked into
// banger): scripted answers per "METHOD target", and a record of calls.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/mcp_backend.h"

namespace banger {

class FakeMcpBackend : public McpBackend {
 public:
  struct Seen {
    std::string method, target, body;
  };
  // JSON answers (or errors) by "METHOD target"; unknown keys are not_found.
  std::map<std::string, Result<Json>> json;
  // Raw answers by "METHOD target".
  std::map<std::string, Result<HttpResponse>> raw;
  // Exec: called with what the tool asked.
  std::function<Result<ExecOutcome>(const std::string&, const ExecVmRequest&, const std::string&,
                                    std::chrono::milliseconds)>
      exec;
  std::vector<Seen> calls;

  Result<Json> Call(const std::string& method, const std::string& target, const Json* body,
                    std::chrono::milliseconds /*timeout*/) override {
    calls.push_back({method, target, body ? body->dump() : ""});
    auto it = json.find(method + " " + target);
    if (it == json.end()) return Error::NotFound("fake: no answer for " + method + " " + target);
    return it->second;
  }
  Result<HttpResponse> Raw(const std::string& method, const std::string& target, const std::string& body,
                           std::chrono::milliseconds /*timeout*/) override {
    calls.push_back({method, target, body});
    auto it = raw.find(method + " " + target);
    if (it == raw.end()) return Error::NotFound("fake: no answer for " + method + " " + target);
    return it->second;
  }
  Result<ExecOutcome> Exec(const std::string& ref, const ExecVmRequest& req, const std::string& stdin_data,
                           std::chrono::milliseconds deadline) override {
    calls.push_back({"EXEC", ref, stdin_data});
    if (!exec) return Error::NotFound("no such vm: " + ref);
    return exec(ref, req, stdin_data, deadline);
  }
};

}  // namespace banger
