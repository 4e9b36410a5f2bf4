// Guest files: /v1/vms/{ref}/archive and .../archive/upload (tar streams out
// and in, WebSockets: docs/adr/0023, 0026) and /v1/vms/{ref}/files (single files and
// listings, plain HTTP, bounded). The work is CpService's
// (daemon/cp_service.h); guest error codes keep their own HTTP statuses.
#include <charconv>

#include "api/handlers.h"
#include "api/respond.h"
#include "api/stream.h"
#include "base/log.h"
#include "daemon/cp_service.h"

namespace banger {
namespace {

// An upload's idle limit: a client that stops sending for this long ends its
// copy, and only its copy (one that stops reading a download is dropped
// after ws_write_timeout).
constexpr std::chrono::seconds kClientIdle{120};
// Single files through the files API are read into memory: this bounds them.
constexpr int64_t kMaxFileBytes = int64_t{8} << 20;
// Tar bytes per stream frame towards the client.
constexpr size_t kOutChunk = 256 * 1024;

HttpResponse CpErrorResponse(const Error& e, const std::string& code) {
  if (code.empty()) return ErrorResponse(e);
  return JsonResponse(CpHttpStatus(code), Json{{"error", {{"code", code}, {"message", e.message()}}}});
}

std::string CpErrorFrame(const Error& e, const std::string& code) {
  return SafeDump(
      Json{{"code", code.empty() ? std::string(ErrorKindName(e.kind())) : code}, {"message", e.message()}});
}

Result<std::string> PathParam(const ApiCall& c) {
  std::string path = c.QueryValue("path");
  if (path.empty()) return Error::Invalid("the path query parameter is required");
  BANGER_RETURN_IF_ERROR(ValidateGuestCpPath(path));
  return path;
}

// GET /v1/vms/{ref}/archive?path=P[&follow_links=1], a WebSocket: stdout
// messages carrying the tar, then a result {"bytes","sha256"} or an error.
HttpResponse GetArchive(ApiServices& s, const ApiCall& c) {
  if (auto st = RequireWebSocket(c.req, "archive download"); !st.ok()) return ErrorResponse(st.error());
  API_TRY(std::string path, PathParam(c));
  API_TRY(auto view, s.vms.Get(c.Param(0)));
  bool follow = QueryBool(c.query, "follow_links");
  // A missing path is a plain 404 before any stream starts.
  CpService probe(s.vms);
  std::string code;
  auto st = probe.Stat(view.vm.id, path, &code);
  if (!st.ok()) return CpErrorResponse(st.error(), code);
  VmService* vms = &s.vms;
  std::string id = view.vm.id;
  return WebSocketStream([vms, id, path, follow](WsConn& ws) {
    CpService cp(*vms);
    std::string buf;
    auto flush = [&]() -> Status {
      if (buf.empty()) return OkStatus();
      Status w = ws.Send(Msg(StreamType::kStdout), buf);
      buf.clear();
      if (!w.ok()) return Error::Unavailable("the client stopped reading");
      return OkStatus();
    };
    auto sink = [&](std::string_view d) -> Status {
      buf.append(d);
      return buf.size() >= kOutChunk ? flush() : OkStatus();
    };
    std::string err_code;
    auto r = cp.CopyOut(id, path, follow, sink, &err_code);
    if (r.ok() && !flush().ok()) r = Error::Unavailable("the client stopped reading");
    if (!r.ok()) {
      spdlog::info("vm {}: copy of {} out: {}", id, path, r.error().message());
      ws.Send(Msg(StreamType::kError), CpErrorFrame(r.error(), err_code)).ok();
      return;
    }
    ws.Send(Msg(StreamType::kResult), SafeDump(Json{{"bytes", r->bytes}, {"sha256", r->sha256}})).ok();
  });
}

// GET /v1/vms/{ref}/archive/upload?path=DIR[&chown=U:G|keep], a WebSocket: the
// client sends stdin messages (the tar) and stdin_eof; the answer is a
// result {"bytes","entries","sha256"} or an error. After an early error the
// server's closing handshake reads and drops what the client still sends.
HttpResponse PutArchive(ApiServices& s, const ApiCall& c) {
  if (auto st = RequireWebSocket(c.req, "archive upload"); !st.ok()) return ErrorResponse(st.error());
  API_TRY(std::string dir, PathParam(c));
  std::string chown = c.QueryValue("chown");
  if (!chown.empty() && chown != kChownKeep) {
    if (auto st = ValidateChown(chown); !st.ok()) return ErrorResponse(st.error());
  }
  API_TRY(auto view, s.vms.Get(c.Param(0)));
  VmService* vms = &s.vms;
  std::string id = view.vm.id;
  return WebSocketStream([vms, id, dir, chown](WsConn& ws) {
    CpService cp(*vms);
    CpSource source = [&]() -> Result<std::optional<std::string>> {
      for (;;) {
        auto m = ws.Recv(kClientIdle);
        if (!m.ok() && m.error().kind() == ErrorKind::kTimeout) {
          return Error::Timeout("the client sent nothing for " + std::to_string(kClientIdle.count()) + "s");
        }
        if (!m.ok() || !m->has_value())
          return Error::Unavailable("the client went away before the end of the archive");
        const WsMessage& msg = **m;
        if (msg.text) continue;
        if (msg.type() == Msg(StreamType::kStdin))
          return std::optional<std::string>(std::string(msg.payload()));
        if (msg.type() == Msg(StreamType::kStdinEof)) return std::optional<std::string>();
      }
    };
    std::string err_code;
    auto r = cp.CopyIn(id, dir, chown, source, &err_code);
    if (!r.ok()) {
      spdlog::info("vm {}: copy into {}: {}", id, dir, r.error().message());
      ws.Send(Msg(StreamType::kError), CpErrorFrame(r.error(), err_code)).ok();
      return;
    }
    ws.Send(Msg(StreamType::kResult),
            SafeDump(Json{{"bytes", r->bytes}, {"entries", r->entries}, {"sha256", r->sha256}}))
        .ok();
  });
}

// GET /v1/vms/{ref}/files?path=P[&stat=1]
HttpResponse GetFiles(ApiServices& s, const ApiCall& c) {
  API_TRY(std::string path, PathParam(c));
  API_TRY(auto view, s.vms.Get(c.Param(0)));
  CpService cp(s.vms);
  std::string code;
  auto st = cp.Stat(view.vm.id, path, &code);
  if (!st.ok()) return CpErrorResponse(st.error(), code);
  if (QueryBool(c.query, "stat")) return JsonResponse(200, *st);
  std::string type = st->value("type", "");
  if (type == "dir") {
    auto ls = cp.List(view.vm.id, path, &code);
    if (!ls.ok()) return CpErrorResponse(ls.error(), code);
    return JsonResponse(200, *ls);
  }
  if (type != "file") {
    return CpErrorResponse(
        Error::Invalid(path + " is a " + type + ", not a file or directory (?stat=1 shows it)"), "invalid");
  }
  auto data = cp.ReadFile(view.vm.id, path, kMaxFileBytes, &code);
  if (!data.ok()) return CpErrorResponse(data.error(), code);
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.body = std::move(*data);
  return r;
}

// PUT /v1/vms/{ref}/files?path=P[&mode=0644][&chown=U:G], body: the bytes.
HttpResponse PutFiles(ApiServices& s, const ApiCall& c) {
  API_TRY(std::string path, PathParam(c));
  unsigned mode = 0644;
  if (std::string m = c.QueryValue("mode"); !m.empty()) {
    auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), mode, 8);
    if (ec != std::errc() || p != m.data() + m.size() || mode > 07777) {
      return ErrorResponse(Error::Invalid("mode \"" + m + "\" must be octal, at most 7777"));
    }
  }
  std::string chown = c.QueryValue("chown");
  if (!chown.empty()) {
    if (auto st = ValidateChown(chown); !st.ok()) return ErrorResponse(st.error());
  }
  API_TRY(auto view, s.vms.Get(c.Param(0)));
  CpService cp(s.vms);
  std::string code;
  auto r = cp.WriteFile(view.vm.id, path, c.req.body, mode, chown, &code);
  if (!r.ok()) return CpErrorResponse(r.error(), code);
  return JsonResponse(200, Json{{"path", path}, {"bytes", static_cast<int64_t>(c.req.body.size())}});
}

}  // namespace

void AddFileRoutes(RouteTable& t, ApiServices& s) {
  // The archive streams are WebSockets served on the Unix socket only; so
  // is writing a file, which is as strong as exec (root in the guest).
  // Reading a file or a listing is served on the web UI too.
  t.Add(
      "GET", "/v1/vms/{ref}/archive", [&s](const ApiCall& c) { return GetArchive(s, c); },
      RouteAccess::kLocal);
  t.Add(
      "GET", "/v1/vms/{ref}/archive/upload", [&s](const ApiCall& c) { return PutArchive(s, c); },
      RouteAccess::kLocal);
  t.Add("GET", "/v1/vms/{ref}/files", [&s](const ApiCall& c) { return GetFiles(s, c); });
  t.Add(
      "PUT", "/v1/vms/{ref}/files", [&s](const ApiCall& c) { return PutFiles(s, c); }, RouteAccess::kLocal);
}

}  // namespace banger
