#include "api/respond.h"

#include <sys/socket.h>

#include <charconv>
#include <thread>
#include <utility>

#include "api/exec_stream.h"
#include "api/stream.h"

namespace banger {
namespace {

// Runs `op` on the upgraded connection. A client that goes away cancels it:
// a reader notices the end of the stream while `op` runs on this thread.
void ServeProgress(UniqueFd fd, std::string leftover, const ProgressOp& op) {
  std::atomic<bool> cancel{false};
  std::thread watcher([&] {
    StreamReader reader(fd.get(), std::move(leftover));
    for (;;) {
      auto f = reader.Next();
      if (!f.ok() || !f->has_value()) break;
    }
    cancel = true;
  });
  auto progress = [&](const std::string& line) {
    if (!WriteStreamFrame(fd.get(), StreamType::kProgress, line).ok()) cancel = true;
  };
  auto result = op(progress, cancel);
  if (result.ok()) {
    WriteStreamFrame(fd.get(), StreamType::kResult, SafeDump(*result)).ok();
  } else {
    WriteStreamFrame(fd.get(), StreamType::kError, EncodeErrorFrame(result.error())).ok();
  }
  ::shutdown(fd.get(), SHUT_RD);
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

HttpResponse StreamUpgrade(std::function<void(UniqueFd, std::string)> serve) {
  HttpResponse r;
  r.status = 101;
  r.content_type = "";
  r.headers["Upgrade"] = kStreamProtocol;
  r.upgrade = std::move(serve);
  return r;
}

Status RequireUpgrade(const HttpRequest& req, const std::string& what) {
  if (req.headers.count("upgrade") == 0) {
    return Error::Invalid(what + " needs an upgraded connection (Upgrade: " + std::string(kStreamProtocol) +
                          ")");
  }
  return OkStatus();
}

HttpResponse ProgressUpgrade(ProgressOp op) {
  return StreamUpgrade([op = std::move(op)](UniqueFd fd, std::string leftover) {
    ServeProgress(std::move(fd), std::move(leftover), op);
  });
}

HttpResponse ExecUpgrade(VmService& vms, const std::string& vm_id, const ExecRequest& exec,
                         std::chrono::milliseconds agent_timeout, bool may_be_run_command) {
  return StreamUpgrade([&vms, vm_id, exec, agent_timeout, may_be_run_command](UniqueFd fd,
                                                                              std::string leftover) {
    ServeExecStream(std::move(fd), std::move(leftover), vms, vm_id, exec, agent_timeout, may_be_run_command);
  });
}

}  // namespace banger
