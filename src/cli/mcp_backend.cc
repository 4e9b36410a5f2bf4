// The real McpBackend: the CLI's ApiClient for plain calls, and the exec
// stream (a WebSocket, api/stream.h messages) for guest commands, whose
// output is captured here instead of being written to a terminal.
#include "cli/mcp_backend.h"

#include <signal.h>

#include <algorithm>
#include <thread>

#include "api/stream.h"
#include "http/ws.h"

namespace banger {

void BoundedOutput::Append(std::string_view data) {
  total_ += data.size();
  size_t to_head = std::min(data.size(), head_max_ - head_.size());
  head_.append(data.substr(0, to_head));
  data.remove_prefix(to_head);
  if (data.empty() || tail_max_ == 0) return;
  if (data.size() >= tail_max_) {
    tail_.assign(data.substr(data.size() - tail_max_));
    return;
  }
  tail_.append(data);
  if (tail_.size() > tail_max_) tail_.erase(0, tail_.size() - tail_max_);
}

std::string BoundedOutput::Text() const {
  if (!truncated()) return head_ + tail_;
  size_t omitted = total_ - head_.size() - tail_.size();
  return head_ + "\n[... " + std::to_string(omitted) + " bytes omitted (" + std::to_string(total_) +
         " in all) ...]\n" + tail_;
}

namespace {

using Clock = std::chrono::steady_clock;

// A command still running this long after its SIGKILL is given up on.
constexpr std::chrono::seconds kKillGrace{5};
constexpr size_t kStdinChunk = 64 * 1024;

class ApiBackend final : public McpBackend {
 public:
  explicit ApiBackend(ApiClient client) : client_(std::move(client)) {}

  Result<Json> Call(const std::string& method, const std::string& target, const Json* body,
                    std::chrono::milliseconds timeout) override {
    BANGER_RETURN_IF_ERROR(client_.EnsureDaemon());
    return client_.Call(method, target, body, timeout);
  }

  Result<HttpResponse> Raw(const std::string& method, const std::string& target, const std::string& body,
                           std::chrono::milliseconds timeout) override {
    BANGER_RETURN_IF_ERROR(client_.EnsureDaemon());
    return client_.Raw(method, target, body, timeout);
  }

  Result<ExecOutcome> Exec(const std::string& ref, const ExecVmRequest& req, const std::string& stdin_data,
                           std::chrono::milliseconds deadline) override {
    BANGER_RETURN_IF_ERROR(client_.EnsureDaemon());
    WsOptions options;
    // Sending stdin to a slow guest is bounded by the command's deadline, not less.
    options.write_timeout = deadline + kKillGrace;
    options.ping_interval = std::chrono::milliseconds(0);  // the daemon pings
    const Json open = ToJson(req);
    BANGER_ASSIGN_OR_RETURN(auto conn, client_.OpenStream("/v1/vms/" + UrlEncode(ref) + "/exec", &open,
                                                          std::chrono::seconds(30), options));
    WsConn& ws = *conn;
    // stdin from its own thread: a command that writes before it reads
    // must not wedge against a client still sending.
    std::thread pump([&ws, &stdin_data] {
      for (size_t off = 0; off < stdin_data.size(); off += kStdinChunk) {
        if (!ws.Send(Msg(StreamType::kStdin), std::string_view(stdin_data).substr(off, kStdinChunk)).ok())
          return;
      }
      ws.Send(Msg(StreamType::kStdinEof), "").ok();
    });
    auto result = ReadUntilExit(ws, deadline);
    ws.Abort();  // unblocks a pump still sending
    pump.join();
    return result;
  }

 private:
  // Reads the command's output until its exit; when `deadline` passes the
  // command gets SIGKILL, and kKillGrace later the stream is given up.
  static Result<ExecOutcome> ReadUntilExit(WsConn& ws, std::chrono::milliseconds deadline) {
    BoundedOutput out(kExecHeadBytes, kExecTailBytes), err(kExecHeadBytes, kExecTailBytes);
    ExecOutcome o;
    auto finish = [&] {
      o.out = out.Text();
      o.err = err.Text();
      o.out_bytes = out.total();
      o.err_bytes = err.total();
      o.out_truncated = out.truncated();
      o.err_truncated = err.truncated();
      return o;
    };
    auto until = Clock::now() + deadline;
    for (;;) {
      auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()),
                           std::chrono::milliseconds(1));
      auto msg = ws.Recv(left);
      if (!msg.ok() && msg.error().kind() == ErrorKind::kTimeout && !o.timed_out) {
        const char sig = SIGKILL;
        ws.Send(Msg(StreamType::kSignal), std::string_view(&sig, 1)).ok();
        o.timed_out = true;
        until = Clock::now() + kKillGrace;
        continue;
      }
      if (!msg.ok() || !msg->has_value()) {
        if (o.timed_out) {
          o.exit_code = 128 + SIGKILL;
          return finish();
        }
        return Error::Unavailable("connection to bangerd lost before the command finished");
      }
      const WsMessage& m = **msg;
      switch (static_cast<StreamType>(m.type())) {
        case StreamType::kStdout:
          out.Append(m.payload());
          break;
        case StreamType::kStderr:
          err.Append(m.payload());
          break;
        case StreamType::kExit: {
          auto exit = DecodeExitFrame(m.payload());
          if (!exit.ok()) return Error::Internal("bad exit message from bangerd");
          o.exit_code = exit->code;
          o.signaled = exit->signaled;
          o.signo = exit->signo;
          return finish();
        }
        case StreamType::kError:
          return DecodeErrorFrame(std::string(m.payload()));
        default:
          break;
      }
    }
  }

  ApiClient client_;
};

}  // namespace

std::unique_ptr<McpBackend> MakeApiBackend(ApiClient client) {
  return std::make_unique<ApiBackend>(std::move(client));
}

}  // namespace banger
