// The API's routing table: method + path pattern -> handler. Patterns are
// segments, literal ("vms") or a parameter ("{ref}"); a path matches a
// pattern of the same length, and a literal beats a parameter where both
// match ("/v1/images/build" is not an image named "build"). A path with an
// empty, "." or ".." segment ("/v1//daemon/stop", "/v1/vms/../images") is
// refused (400), never normalized: what the guards see is what runs.
//
// Each route says who may call it: kAny (the Unix socket and the web UI),
// or kLocal (the Unix socket only: daemon control, anything naming a host
// path, upgraded streams, web tokens). The web listener dispatches with
// Listener::kWeb, so that decision is made on the matched route.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "http/http.h"

namespace banger {

enum class RouteAccess { kAny, kLocal };
enum class Listener { kUnix, kWeb };

// "any" or "local", as `bangerd --list-routes` and docs/openapi.yaml's
// x-banger-access say it.
const char* RouteAccessName(RouteAccess a);

// The route label (GET /metrics) of a request no route matched.
inline constexpr const char* kUnmatchedRoute = "unmatched";

// One method of one route, as the table holds it.
struct ApiRouteInfo {
  std::string method;   // "GET"
  std::string pattern;  // "/v1/vms/{ref}"
  RouteAccess access = RouteAccess::kAny;
};

struct ApiCall {
  const HttpRequest& req;
  std::vector<std::string> params;  // the pattern's {parameters}, in order
  std::map<std::string, std::string> query;
  const std::string& Param(size_t i) const { return params.at(i); }
  // The query parameter, or "" when absent.
  std::string QueryValue(const std::string& key) const;
};

using ApiHandler = std::function<HttpResponse(const ApiCall&)>;

// The decoded segments of a request target's path ("/v1/vms/a%20b?x" ->
// {"v1", "vms", "a b"}); an error (kInvalidArgument) for an empty, "." or
// ".." segment, raw or decoded, or a decoded "/" or NUL in one.
Result<std::vector<std::string>> PathSegments(const std::string& target);

class RouteTable {
 public:
  void Add(const std::string& method, const std::string& pattern, ApiHandler handler,
           RouteAccess access = RouteAccess::kAny);
  // The handler of the best route, or 400 (a bad path, or a path that
  // exists but not for this method), 404 (no such path), 403 (a kLocal
  // route from the web listener). `route` (when given) gets the matched
  // route's pattern ("/v1/vms/{ref}"), or kUnmatchedRoute ("unmatched")
  // when no route has the path: the label GET /metrics counts it under.
  HttpResponse Dispatch(const HttpRequest& req, Listener from = Listener::kUnix,
                        std::string* route = nullptr) const;
  // Every method of every route, sorted by pattern, then method.
  std::vector<ApiRouteInfo> List() const;

 private:
  struct Method {
    ApiHandler handler;
    RouteAccess access = RouteAccess::kAny;
  };
  struct Route {
    std::vector<std::string> segments;  // "{...}" = parameter
    std::string pattern;                // "/v1/vms/{ref}"
    std::map<std::string, Method> handlers;
  };
  const Route* Match(const std::vector<std::string>& segs) const;
  std::vector<Route> routes_;
};

}  // namespace banger
