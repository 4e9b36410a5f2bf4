#include "runtime/bangerd.h"

#include <unistd.h>

#include <cstdlib>

#include "api/stream.h"
#include "http/http.h"

namespace banger::shim {
namespace {

Error Unreachable(const HomeLayout& home, const Error& e) {
  if (e.kind() == ErrorKind::kUnavailable) {
    return Error::Unavailable("bangerd is not running at " + home.root + " (" + e.message() + ")");
  }
  return e;
}

}  // namespace

HomeLayout ShimHome() {
  const char* env = std::getenv("BANGER_HOME");
  return HomeLayout{ResolveClientHome(env != nullptr ? env : "")};
}

Result<Json> Bangerd::Call(const std::string& method, const std::string& target, const Json* body,
                           std::chrono::milliseconds timeout) {
  auto r = api_.Call(method, target, body, timeout);
  if (!r.ok()) return Unreachable(home(), r.error());
  return r;
}

Result<std::unique_ptr<WsConn>> Bangerd::Stream(const std::string& target, const Json* open,
                                                std::chrono::milliseconds timeout) {
  WsOptions options;
  options.write_timeout = std::chrono::hours(24);  // a slow guest is not a dead daemon
  options.ping_interval = std::chrono::milliseconds(0);
  auto conn = api_.OpenStream(target, open, timeout, options);
  if (!conn.ok()) return Unreachable(home(), conn.error());
  return conn;
}

std::string Bangerd::Version() {
  auto r = Call("GET", "/v1/ping", nullptr, kPingTimeout);
  return r.ok() ? r->value("version", "") : "";
}

Result<bool> Bangerd::HasImage(const std::string& name) {
  auto r = Call("GET", "/v1/images/" + UrlEncode(name));
  if (r.ok()) return true;
  if (r.error().kind() == ErrorKind::kNotFound) return false;
  return std::move(r).error();
}

Status Bangerd::BuildImage(const std::string& name, const std::string& dir) {
  Json open{{"name", name}, {"from_rootfs", dir}};
  BANGER_ASSIGN_OR_RETURN(auto ws, Stream("/v1/images/build", &open));
  // A build fetches a kernel package the first time; later ones take seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(15);
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0))
      return Error::Timeout("building image " + name + " took over 15 minutes");
    auto m = ws->Recv(left);
    if (!m.ok()) return m.error().Wrap("building image " + name);
    if (!m->has_value()) return Error::Unavailable("bangerd closed the build of image " + name);
    const WsMessage& msg = **m;
    if (msg.text) continue;
    switch (static_cast<StreamType>(msg.type())) {
      case StreamType::kResult:
        return OkStatus();
      case StreamType::kError: {
        Error e = DecodeErrorFrame(std::string(msg.payload()));
        if (e.kind() == ErrorKind::kConflict) {  // built by another shim meanwhile
          auto has = HasImage(name);
          if (has.ok() && *has) return OkStatus();
        }
        return e.Wrap("building image " + name);
      }
      default:
        break;
    }
  }
}

Status Bangerd::DeleteImage(const std::string& name) {
  auto r = Call("DELETE", "/v1/images/" + UrlEncode(name), nullptr, kLongTimeout);
  if (r.ok() || r.error().kind() == ErrorKind::kNotFound) return OkStatus();
  return std::move(r).error();
}

Status Bangerd::DeleteVm(const std::string& ref) {
  auto r = Call("DELETE", "/v1/vms/" + UrlEncode(ref) + "?missing_ok=true", nullptr, kLongTimeout);
  if (r.ok() || r.error().kind() == ErrorKind::kNotFound) return OkStatus();
  return std::move(r).error();
}

Result<std::vector<Json>> Bangerd::VmsWithLabels(const std::map<std::string, std::string>& labels) {
  std::string q;
  for (const auto& [k, v] : labels) q += (q.empty() ? "" : ",") + k + "=" + v;
  BANGER_ASSIGN_OR_RETURN(Json r, Call("GET", "/v1/vms?label=" + UrlEncode(q)));
  std::vector<Json> out;
  if (r.contains("vms") && r["vms"].is_array()) {
    for (const Json& v : r["vms"]) out.push_back(v);
  }
  return out;
}

}  // namespace banger::shim
