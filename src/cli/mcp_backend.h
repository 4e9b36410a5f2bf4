// What `banger mcp` (cli/mcp_server.h) needs from bangerd, as an interface so
// the JSON-RPC/MCP dispatch can be tested against a fake: JSON API calls,
// raw calls (guest files, console log) and a guest command run to its end
// with its output captured and bounded. The real one (MakeApiBackend) is the
// CLI's ApiClient plus the exec stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "api/client.h"
#include "base/result.h"
#include "http/http.h"
#include "model/json.h"
#include "model/requests.h"

namespace banger {

// Keeps the first `head` and the last `tail` bytes of a stream of any size,
// and counts them all: a command's output, bounded for an LLM's context.
class BoundedOutput {
 public:
  BoundedOutput(size_t head, size_t tail) : head_max_(head), tail_max_(tail) {}
  void Append(std::string_view data);
  size_t total() const { return total_; }
  bool truncated() const { return total_ > head_.size() + tail_.size(); }
  // The kept bytes; when truncated, a note in the middle says how many
  // bytes were left out.
  std::string Text() const;

 private:
  size_t head_max_, tail_max_;
  std::string head_, tail_;  // tail_: a ring kept as a plain string, trimmed in Append
  size_t total_ = 0;
};

// How a guest command ran.
struct ExecOutcome {
  int exit_code = 0;
  bool signaled = false;
  int signo = 0;
  bool timed_out = false;  // the deadline passed: the command was killed
  std::string out, err;    // BoundedOutput::Text of each
  size_t out_bytes = 0, err_bytes = 0;
  bool out_truncated = false, err_truncated = false;
};

// Per-stream output kept by Exec: the first 24 KiB and the last 8 KiB.
inline constexpr size_t kExecHeadBytes = 24 * 1024;
inline constexpr size_t kExecTailBytes = 8 * 1024;

class McpBackend {
 public:
  virtual ~McpBackend() = default;
  // One API call whose answer is JSON; a non-2xx answer is its Error (the
  // API's one-line message).
  virtual Result<Json> Call(const std::string& method, const std::string& target, const Json* body,
                            std::chrono::milliseconds timeout) = 0;
  // The same for bodies that are not JSON (guest files, the console log).
  virtual Result<HttpResponse> Raw(const std::string& method, const std::string& target,
                                   const std::string& body, std::chrono::milliseconds timeout) = 0;
  // Runs `req` in VM `ref` with `stdin_data` as its whole stdin, until it
  // exits or `deadline` passes (then it is killed and timed_out is set).
  // An Error when it could not run (no such VM, VM stopped, agent timeout).
  virtual Result<ExecOutcome> Exec(const std::string& ref, const ExecVmRequest& req,
                                   const std::string& stdin_data, std::chrono::milliseconds deadline) = 0;
};

// The real backend: `client`'s daemon, started in the background when none
// answers (as every CLI command does).
std::unique_ptr<McpBackend> MakeApiBackend(ApiClient client);

}  // namespace banger
