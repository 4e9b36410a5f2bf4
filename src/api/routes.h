// The API's routing table: method + path pattern -> handler. Patterns are
// segments, literal ("vms") or a parameter ("{ref}"); a path matches a
// pattern of the same length, and a literal beats a parameter where both
// match ("/v1/images/build" is not an image named "build"). Empty segments
// are dropped ("/v1//vms" is "/v1/vms"), here and in PathSegments, which the
// web UI's guards use so they see the path the router sees.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "http/http.h"

namespace banger {

struct ApiCall {
  const HttpRequest& req;
  std::vector<std::string> params;  // the pattern's {parameters}, in order
  std::map<std::string, std::string> query;
  const std::string& Param(size_t i) const { return params.at(i); }
  // The query parameter, or "" when absent.
  std::string QueryValue(const std::string& key) const;
};

using ApiHandler = std::function<HttpResponse(const ApiCall&)>;

// "/v1//vms/x/" -> {"v1", "vms", "x"}.
std::vector<std::string> PathSegments(const std::string& path);

class RouteTable {
 public:
  void Add(const std::string& method, const std::string& pattern, ApiHandler handler);
  // The handler of the best route, or 404 (no such path) / 400 (a path
  // that exists but not for this method).
  HttpResponse Dispatch(const HttpRequest& req) const;

 private:
  struct Route {
    std::vector<std::string> segments;  // "{...}" = parameter
    std::map<std::string, ApiHandler> handlers;
  };
  const Route* Match(const std::vector<std::string>& segs) const;
  std::vector<Route> routes_;
};

}  // namespace banger
