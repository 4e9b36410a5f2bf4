// GET /v1/events: the event log, long-polled with wait_ms.
#include "api/handlers.h"
#include "api/respond.h"

namespace banger {

void AddEventRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/events", [&s](const ApiCall& c) {
    API_TRY(int64_t after, QueryInt(c.query, "after", 0, 0, INT64_MAX));
    API_TRY(int64_t wait_ms, QueryInt(c.query, "wait_ms", 0, 0, 60000));
    API_TRY(int64_t limit, QueryInt(c.query, "limit", 100, 1, 1000));
    API_TRY(auto evs, s.events.Read(after, static_cast<int>(limit), std::chrono::milliseconds(wait_ms)));
    Json arr = Json::array();
    int64_t last = after;
    for (const auto& e : evs) {
      arr.push_back(ToJson(e));
      last = e.seq;
    }
    return JsonResponse(200, Json{{"events", arr}, {"last_seq", last}});
  });
}

}  // namespace banger
