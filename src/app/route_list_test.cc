// bangerd --list-routes: the daemon's route table, built as the daemon builds it.
#include "app/route_list.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

namespace banger {
namespace {

std::vector<std::string> Lines() {
  auto lines = ApiRouteLines();
  EXPECT_TRUE(lines.ok()) << lines.error().message();
  return lines.ok() ? *lines : std::vector<std::string>{};
}

TEST(RouteListTest, EveryLineIsMethodPatternAccess) {
  auto lines = Lines();
  ASSERT_GT(lines.size(), 40u);
  const std::set<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  for (const auto& l : lines) {
    std::istringstream in(l);
    std::string method, pattern, access, extra;
    in >> method >> pattern >> access;
    EXPECT_FALSE(in >> extra) << l;
    EXPECT_TRUE(methods.count(method)) << l;
    // Everything is under /v1 but GET /metrics (api/metrics.h), where Prometheus looks.
    EXPECT_TRUE(pattern.rfind("/v1/", 0) == 0 || (pattern == "/metrics" && method == "GET")) << l;
    EXPECT_TRUE(access == "any" || access == "local") << l;
  }
}

TEST(RouteListTest, SortedAndUnique) {
  auto lines = Lines();
  std::set<std::string> seen(lines.begin(), lines.end());
  EXPECT_EQ(seen.size(), lines.size());
  // By pattern, then method.
  auto key = [](const std::string& l) {
    auto sp = l.find(' ');
    return l.substr(sp + 1) + " " + l.substr(0, sp);
  };
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end(),
                             [&](const std::string& a, const std::string& b) { return key(a) < key(b); }));
}

TEST(RouteListTest, HasTheDaemonsRoutesWithTheirAccess) {
  auto lines = Lines();
  auto has = [&](const std::string& l) { return std::find(lines.begin(), lines.end(), l) != lines.end(); };
  EXPECT_TRUE(has("GET /v1/ping any"));
  EXPECT_TRUE(has("GET /v1/openapi.yaml any"));
  EXPECT_TRUE(has("POST /v1/daemon/stop local"));
  EXPECT_TRUE(has("POST /v1/web/tokens local"));
  EXPECT_TRUE(has("DELETE /v1/web/tokens local"));
  EXPECT_TRUE(has("GET /v1/vms/{ref} any"));
  EXPECT_TRUE(has("PATCH /v1/vms/{ref} any"));
  EXPECT_TRUE(has("DELETE /v1/vms/{ref}/ports/{host_port} any"));
  EXPECT_TRUE(has("PUT /v1/vms/{ref}/files local"));
  EXPECT_TRUE(has("POST /v1/images local"));
}

}  // namespace
}  // namespace banger
