#include "runtime/pod_root.h"

#include <atomic>
#include <thread>

#include "api/stream.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "base/strings.h"
#include "cli/cp_local.h"
#include "http/http.h"
#include "runtime/container.h"

namespace banger::shim {
namespace {

constexpr const char* kAgent = "/usr/local/sbin/banger-agent";
constexpr size_t kChunk = 256 * 1024;

}  // namespace

std::string GuestRootFor(const std::string& id) { return "/var/lib/banger/containers/" + SessionNameFor(id); }

Status RunInVm(Bangerd& api, const std::string& vm, const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout) {
  Json open{{"argv", argv}, {"user", "0:0"}, {"no_image_env", true}, {"timeout_ms", 120000}};
  BANGER_ASSIGN_OR_RETURN(auto ws, api.Stream("/v1/vms/" + UrlEncode(vm) + "/exec", &open));
  ws->Send(Msg(StreamType::kStdinEof), "").ok();
  std::string err;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      ws->Abort();
      return Error::Timeout(argv[1] + " in VM " + vm + " did not finish in time");
    }
    auto m = ws->Recv(left);
    if (!m.ok()) {
      if (m.error().kind() == ErrorKind::kTimeout) continue;
      return m.error().Wrap("running " + argv[1] + " in VM " + vm);
    }
    if (!m->has_value()) return Error::Unavailable("bangerd closed the exec in VM " + vm);
    const WsMessage& msg = **m;
    if (msg.text) continue;
    switch (static_cast<StreamType>(msg.type())) {
      case StreamType::kStderr:
        if (err.size() < 4096) err.append(msg.payload().substr(0, 4096 - err.size()));
        break;
      case StreamType::kExit: {
        auto exit = DecodeExitFrame(msg.payload());
        const int code = exit.ok() ? exit->code : -1;
        ws->Close();
        if (code == 0) return OkStatus();
        return Error::Internal(argv[1] + " " + (argv.size() > 2 ? argv[2] : "") + " in VM " + vm +
                               " exited with " + std::to_string(code) + ": " + Trim(err));
      }
      case StreamType::kError:
        return DecodeErrorFrame(std::string(msg.payload())).Wrap("running " + argv[1] + " in VM " + vm);
      default:
        break;
    }
  }
}

Status InstallGuestRoot(Bangerd& api, const std::string& vm, const std::string& tree,
                        const std::string& guest_root) {
  constexpr auto kStep = std::chrono::minutes(2);
  BANGER_RETURN_IF_ERROR(RunInVm(api, vm, {kAgent, "ctr-root", "create", guest_root}, kStep));
  ScopeGuard undo([&] { RemoveGuestRoot(api, vm, guest_root).ok(); });
  const std::string target =
      "/v1/vms/" + UrlEncode(vm) + "/archive/upload?path=" + UrlEncode(guest_root) + "&chown=keep";
  BANGER_ASSIGN_OR_RETURN(auto opened, api.Stream(target, nullptr));
  std::shared_ptr<WsConn> ws(std::move(opened));
  // The guest may refuse early: read while sending, and stop sending at its answer.
  std::atomic<bool> answered{false};
  Status result = Error::Unavailable("the upload of " + tree + " ended without an answer");
  std::thread reader([&] {
    for (;;) {
      auto m = ws->Recv();
      if (!m.ok() || !m->has_value()) break;
      const WsMessage& msg = **m;
      if (msg.text) continue;
      auto t = static_cast<StreamType>(msg.type());
      if (t == StreamType::kResult) {
        result = OkStatus();
        break;
      }
      if (t == StreamType::kError) {
        result =
            DecodeErrorFrame(std::string(msg.payload())).Wrap("sending the root of " + tree + " to VM " + vm);
        break;
      }
    }
    answered = true;
  });
  int skipped = 0;
  Status sent = WriteHostTar(
      tree, false, "",
      [&](std::string_view chunk) -> Status {
        if (answered) return Error::Internal("the guest stopped the upload");
        for (size_t off = 0; off < chunk.size(); off += kChunk) {
          BANGER_RETURN_IF_ERROR(ws->Send(Msg(StreamType::kStdin), chunk.substr(off, kChunk)));
        }
        return OkStatus();
      },
      &skipped);
  if (sent.ok()) ws->Send(Msg(StreamType::kStdinEof), "").ok();
  if (!sent.ok() && !answered) ws->Abort();
  reader.join();
  ws->Close();
  if (skipped > 0) spdlog::info("root {}: {} sockets, fifos or devices not sent", tree, skipped);
  BANGER_RETURN_IF_ERROR(result);
  BANGER_RETURN_IF_ERROR(sent);
  BANGER_RETURN_IF_ERROR(RunInVm(api, vm, {kAgent, "ctr-root", "mount", guest_root}, kStep));
  undo.Dismiss();
  return OkStatus();
}

Status RemoveGuestRoot(Bangerd& api, const std::string& vm, const std::string& guest_root) {
  Status st = RunInVm(api, vm, {kAgent, "ctr-root", "remove", guest_root}, std::chrono::minutes(2));
  if (!st.ok() && (st.error().kind() == ErrorKind::kNotFound || st.error().kind() == ErrorKind::kConflict)) {
    return OkStatus();  // the VM is gone or stopped: so is the root
  }
  return st;
}

ProcessSpec Chrooted(const ProcessSpec& process, const std::string& guest_root) {
  ProcessSpec out = process;
  out.args = {kAgent, "ctr-root", "exec", guest_root, "--user", process.User(), "--cwd", process.cwd, "--"};
  out.args.insert(out.args.end(), process.args.begin(), process.args.end());
  out.uid = 0;
  out.gid = 0;
  out.cwd = "/";
  return out;
}

}  // namespace banger::shim
