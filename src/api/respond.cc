#include "api/respond.h"

#include <charconv>
#include <thread>
#include <utility>

#include "api/exec_stream.h"
#include "api/stream.h"

namespace banger {
namespace {

// Runs `op` on the WebSocket. A client that goes away cancels it: a reader
// notices the end of the stream while `op` runs on this thread.
void ServeProgress(WsConn& ws, const ProgressOp& op) {
  std::atomic<bool> cancel{false};
  std::thread watcher([&] {
    for (;;) {
      auto m = ws.Recv();
      if (!m.ok() || !m->has_value()) break;
    }
    cancel = true;
  });
  auto progress = [&](const std::string& line) {
    if (!ws.Send(Msg(StreamType::kProgress), line).ok()) cancel = true;
  };
  auto result = op(progress, cancel);
  if (result.ok()) {
    ws.Send(Msg(StreamType::kResult), SafeDump(*result)).ok();
  } else {
    SendStreamError(ws, result.error());
  }
  ws.Close(1000);  // ends the watcher's read
  watcher.join();
}

}  // namespace

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  // Guest-provided text (errors quoting console output) may be invalid UTF-8.
  r.body = SafeDump(body);
  return r;
}

int HttpStatusFor(ErrorKind k) {
  static constexpr std::pair<ErrorKind, int> kStatuses[] = {
      {ErrorKind::kInvalidArgument, 400}, {ErrorKind::kNotFound, 404}, {ErrorKind::kConflict, 409},
      {ErrorKind::kUnavailable, 503},     {ErrorKind::kTimeout, 504},  {ErrorKind::kInternal, 500}};
  for (const auto& [kind, status] : kStatuses) {
    if (kind == k) return status;
  }
  return 500;
}

HttpResponse ErrorResponse(const Error& e) {
  return JsonResponse(HttpStatusFor(e.kind()),
                      Json{{"error", {{"code", ErrorKindName(e.kind())}, {"message", e.message()}}}});
}

Result<Json> Body(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  auto j = ParseJson(req.body);
  if (!j.ok()) return std::move(j).error();
  if (!j->is_object()) return Error::Invalid("request body must be a JSON object");
  return *j;
}

Result<int64_t> QueryInt(const std::map<std::string, std::string>& q, const std::string& key, int64_t def,
                         int64_t lo, int64_t hi) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return def;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size()) {
    return Error::Invalid("query parameter " + key + " must be an integer");
  }
  if (v < lo || v > hi) {
    return Error::Invalid("query parameter " + key + " must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi));
  }
  return v;
}

bool QueryBool(const std::map<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it != q.end() && (it->second == "true" || it->second == "1" || it->second.empty());
}

Json VmViewJson(const VmView& v) {
  Json j = ToJson(v.vm);
  if (v.handles) j["handles"] = ToJson(*v.handles);
  Json ports = Json::array();
  for (const auto& p : v.ports) ports.push_back(p.Spec());
  j["ports"] = std::move(ports);
  return j;
}

Status RequireWebSocket(const HttpRequest& req, const std::string& what) {
  if (!IsWebSocketUpgrade(req)) {
    return Error::Invalid(what + " is a WebSocket stream: connect with Upgrade: websocket");
  }
  return OkStatus();
}

HttpResponse WebSocketStream(std::function<void(WsConn&)> serve) {
  HttpResponse r;
  r.status = 101;
  r.content_type = "";
  r.websocket = std::move(serve);
  return r;
}

Result<Json> ReadOpenRequest(WsConn& ws, const std::string& what, std::chrono::milliseconds timeout) {
  auto m = ws.Recv(timeout);
  if (!m.ok()) {
    if (m.error().kind() == ErrorKind::kTimeout) {
      std::string limit = timeout.count() % 1000 == 0 ? std::to_string(timeout.count() / 1000) + "s"
                                                      : std::to_string(timeout.count()) + "ms";
      return Error::Invalid("no " + what + " within " + limit + ": send it as the first (text) message");
    }
    return std::move(m).error();
  }
  if (!m->has_value()) return Error::Unavailable("the client closed the stream before sending the " + what);
  if (!(*m)->text) return Error::Invalid("the " + what + " must be the first message, as text (JSON)");
  auto j = ParseJson((*m)->data);
  if (!j.ok()) return Error::Invalid(what + ": " + j.error().message());
  if (!j->is_object()) return Error::Invalid(what + " must be a JSON object");
  return *j;
}

void SendStreamError(WsConn& ws, const Error& e) {
  ws.Send(Msg(StreamType::kError), EncodeErrorFrame(e)).ok();
}

HttpResponse ProgressStream(const std::string& what,
                            std::function<Result<ProgressOp>(const Json& open)> make) {
  return WebSocketStream([what, make = std::move(make)](WsConn& ws) {
    auto open = ReadOpenRequest(ws, what);
    if (!open.ok()) return SendStreamError(ws, open.error());
    auto op = make(*open);
    if (!op.ok()) return SendStreamError(ws, op.error());
    ServeProgress(ws, *op);
  });
}

void WithClientWatch(WsConn& ws, const std::function<void(const std::atomic<bool>& cancel)>& loop) {
  std::atomic<bool> cancel{false};
  std::thread watcher([&] {
    for (;;) {
      auto m = ws.Recv();
      if (!m.ok() || !m->has_value()) break;
    }
    cancel = true;
  });
  loop(cancel);
  ws.Close(1000);  // ends the watcher's read
  watcher.join();
}

HttpResponse ExecStream(VmService& vms, const std::string& vm_id, const ExecRequest& exec,
                        std::chrono::milliseconds agent_timeout) {
  return WebSocketStream([&vms, vm_id, exec, agent_timeout](WsConn& ws) {
    ServeExecStream(ws, vms, vm_id, exec, agent_timeout);
  });
}

}  // namespace banger
