#include "api/exec_stream.h"

#include <signal.h>

#include <atomic>
#include <thread>

#include "api/stream.h"
#include "base/log.h"
#include "daemon/guest_exec.h"
#include "model/json.h"

namespace banger {
namespace {

// How long a command whose client went away gets between SIGHUP and SIGKILL.
constexpr std::chrono::seconds kHangupGrace{5};

void SendError(WsConn& ws, const Error& e) { ws.Send(Msg(StreamType::kError), EncodeErrorFrame(e)).ok(); }

}  // namespace

void ServeExecStream(WsConn& ws, VmService& vms, const std::string& ref, const ExecRequest& req,
                     std::chrono::milliseconds agent_timeout, bool may_be_run_command) {
  GuestExec exec(vms);
  auto opened = exec.Open(ref, req, agent_timeout, may_be_run_command);
  if (!opened.ok()) return SendError(ws, opened.error());
  GuestCommand& cmd = **opened;
  ExecChannel& channel = cmd.channel();

  std::atomic<bool> exited{false};
  // Guest -> client. Blocking writes to the client are the back pressure:
  // while they wait, Next() is not called and the agent's window closes.
  std::thread out([&] {
    bool hung_up = false;
    for (;;) {
      auto ev = cmd.Next();
      if (!ev.ok()) {
        SendError(ws, ev.error());
        break;
      }
      if (ev->kind == ExecEvent::kExit) {
        const ExitStatus& x = ev->exit;
        Json j{{"code", x.ShellCode()}, {"signaled", x.signaled}, {"signo", x.signo}, {"core", x.core}};
        // Before the frame: the client may hang up the moment it has it.
        exited = true;
        // An auto-remove VM is gone before its client learns the exit code.
        cmd.EndRun();
        ws.Send(Msg(StreamType::kExit), SafeDump(j)).ok();
        break;
      }
      if (ev->kind == ExecEvent::kStdoutEof) continue;  // EXIT follows
      auto type = ev->kind == ExecEvent::kStdout ? StreamType::kStdout : StreamType::kStderr;
      if (!ws.Send(Msg(type), ev->data).ok() && !hung_up) {
        // The client is gone; keep draining (bounded by the hangup's kill
        // deadline) so the command is not blocked forever.
        hung_up = true;
        cmd.Hangup(kHangupGrace);
      }
    }
    exited = true;
    // Ends the reader below: nothing more will be accepted from the client.
    ws.Close(1000);
  });

  // Client -> guest, on this thread.
  bool stdin_closed = false;
  for (;;) {
    auto m = ws.Recv();
    if (!m.ok() || !m->has_value()) {
      if (!exited) {
        spdlog::info("exec on vm {}: client went away; sending SIGHUP", ref);
        cmd.Hangup(kHangupGrace);
      }
      break;
    }
    const WsMessage& msg = **m;
    std::string_view payload = msg.payload();
    Status st;
    switch (msg.text ? StreamType{} : static_cast<StreamType>(msg.type())) {
      case StreamType::kStdin:
        if (!stdin_closed) st = channel.WriteStdin(payload);
        break;
      case StreamType::kStdinEof:
        if (!stdin_closed) st = channel.CloseStdin();
        stdin_closed = true;
        break;
      case StreamType::kSignal:
        if (payload.size() == 1) st = channel.Signal(static_cast<unsigned char>(payload[0]));
        break;
      case StreamType::kResize: {
        uint16_t rows = 0, cols = 0;
        if (DecodeResize(payload, rows, cols)) st = channel.Resize(rows, cols);
        break;
      }
      default:
        break;  // unknown client messages are ignored (newer clients)
    }
    if (!st.ok() && !exited) spdlog::debug("exec on vm {}: {}", ref, st.error().message());
  }
  out.join();
}

}  // namespace banger
