#include "api/routes.h"

#include <algorithm>

#include "api/respond.h"

namespace banger {
namespace {

bool IsParam(const std::string& seg) { return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}'; }

bool Matches(const std::vector<std::string>& pattern, const std::vector<std::string>& segs) {
  if (pattern.size() != segs.size()) return false;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (!IsParam(pattern[i]) && pattern[i] != segs[i]) return false;
  }
  return true;
}

// Whether `a` is more specific than `b`: a literal where the other has a
// parameter, at the first position where they differ in kind.
bool MoreSpecific(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (IsParam(a[i]) != IsParam(b[i])) return !IsParam(a[i]);
  }
  return false;
}

}  // namespace

const char* RouteAccessName(RouteAccess a) { return a == RouteAccess::kLocal ? "local" : "any"; }

std::string ApiCall::QueryValue(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? "" : it->second;
}

Result<std::vector<std::string>> PathSegments(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') return Error::Invalid("request path must start with /");
  std::vector<std::string> out;
  if (path == "/") return out;
  size_t i = 1;
  for (;;) {
    size_t j = path.find('/', i);
    std::string raw = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
    HttpRequest one;
    one.target = raw;
    std::string seg = one.Path();  // percent-decoded
    if (raw.empty() || raw == "." || raw == ".." || seg.empty() || seg == "." || seg == ".." ||
        seg.find('/') != std::string::npos || seg.find('\0') != std::string::npos) {
      return Error::Invalid("bad request path: empty, \".\" or \"..\" segment");
    }
    out.push_back(std::move(seg));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

void RouteTable::Add(const std::string& method, const std::string& pattern, ApiHandler handler,
                     RouteAccess access) {
  std::vector<std::string> segs;
  for (size_t i = 1; i <= pattern.size();) {
    size_t j = std::min(pattern.find('/', i), pattern.size());
    segs.push_back(pattern.substr(i, j - i));
    i = j + 1;
  }
  for (auto& r : routes_) {
    if (r.segments == segs) {
      r.handlers[method] = Method{std::move(handler), access};
      return;
    }
  }
  routes_.push_back(Route{std::move(segs), pattern, {{method, Method{std::move(handler), access}}}});
}

const RouteTable::Route* RouteTable::Match(const std::vector<std::string>& segs) const {
  const Route* best = nullptr;
  for (const auto& r : routes_) {
    if (Matches(r.segments, segs) && (!best || MoreSpecific(r.segments, best->segments))) best = &r;
  }
  return best;
}

std::vector<ApiRouteInfo> RouteTable::List() const {
  std::vector<ApiRouteInfo> out;
  for (const auto& r : routes_) {
    std::string pattern;
    for (const auto& seg : r.segments) pattern += "/" + seg;
    for (const auto& [method, m] : r.handlers) out.push_back(ApiRouteInfo{method, pattern, m.access});
  }
  std::sort(out.begin(), out.end(), [](const ApiRouteInfo& a, const ApiRouteInfo& b) {
    return a.pattern != b.pattern ? a.pattern < b.pattern : a.method < b.method;
  });
  return out;
}

HttpResponse RouteTable::Dispatch(const HttpRequest& req, Listener from, std::string* matched) const {
  if (matched) *matched = kUnmatchedRoute;
  std::string path = req.Path();
  auto parsed = PathSegments(req.target);
  if (!parsed.ok()) return ErrorResponse(parsed.error());
  const auto& segs = *parsed;
  const Route* route = Match(segs);
  // Everything is under /v1 but GET /metrics, where Prometheus looks.
  if (!route && (segs.size() < 2 || segs[0] != "v1"))
    return ErrorResponse(Error::NotFound("no such endpoint: " + path));
  if (!route) return ErrorResponse(Error::NotFound("no such endpoint: " + req.method + " " + path));
  if (matched) *matched = route->pattern;
  auto h = route->handlers.find(req.method);
  if (h == route->handlers.end()) {
    return ErrorResponse(Error::Invalid("method " + req.method + " not allowed on " + path));
  }
  if (from == Listener::kWeb && h->second.access == RouteAccess::kLocal) {
    HttpResponse r =
        JsonResponse(403, Json{{"error",
                                {{"code", "forbidden"},
                                 {"message", req.method + " " + path +
                                                 " is served on the Unix socket only, not the web UI"}}}});
    return r;
  }
  ApiCall call{req, {}, req.Query()};
  for (size_t i = 0; i < segs.size(); ++i) {
    if (IsParam(route->segments[i])) call.params.push_back(segs[i]);
  }
  return h->second.handler(call);
}

}  // namespace banger
