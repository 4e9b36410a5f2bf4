#include "api/routes.h"

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

std::string ApiCall::QueryValue(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? "" : it->second;
}

std::vector<std::string> PathSegments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

void RouteTable::Add(const std::string& method, const std::string& pattern, ApiHandler handler) {
  auto segs = PathSegments(pattern);
  for (auto& r : routes_) {
    if (r.segments == segs) {
      r.handlers[method] = std::move(handler);
      return;
    }
  }
  routes_.push_back(Route{std::move(segs), {{method, std::move(handler)}}});
}

const RouteTable::Route* RouteTable::Match(const std::vector<std::string>& segs) const {
  const Route* best = nullptr;
  for (const auto& r : routes_) {
    if (Matches(r.segments, segs) && (!best || MoreSpecific(r.segments, best->segments))) best = &r;
  }
  return best;
}

HttpResponse RouteTable::Dispatch(const HttpRequest& req) const {
  std::string path = req.Path();
  auto segs = PathSegments(path);
  if (segs.size() < 2 || segs[0] != "v1") return ErrorResponse(Error::NotFound("no such endpoint: " + path));
  const Route* route = Match(segs);
  if (!route) return ErrorResponse(Error::NotFound("no such endpoint: " + req.method + " " + path));
  auto h = route->handlers.find(req.method);
  if (h == route->handlers.end()) {
    return ErrorResponse(Error::Invalid("method " + req.method + " not allowed on " + path));
  }
  ApiCall call{req, {}, req.Query()};
  for (size_t i = 0; i < segs.size(); ++i) {
    if (IsParam(route->segments[i])) call.params.push_back(segs[i]);
  }
  return h->second(call);
}

}  // namespace banger
