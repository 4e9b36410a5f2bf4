// GET /v1/events: the event log, long-polled with wait_ms; and
// /v1/events/stream, the same followed on a WebSocket.
#include <thread>

#include "api/handlers.h"
#include "api/respond.h"
#include "api/stream.h"

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
  // Every event after `after` as event messages, then live ones, until the
  // client closes (or the daemon stops).
  t.Add("GET", "/v1/events/stream", [&s](const ApiCall& c) {
    if (auto st = RequireWebSocket(c.req, "the event stream"); !st.ok()) return ErrorResponse(st.error());
    API_TRY(int64_t after, QueryInt(c.query, "after", 0, 0, INT64_MAX));
    EventLog* events = &s.events;
    return WebSocketStream([events, after](WsConn& ws) {
      WithClientWatch(ws, [&](const std::atomic<bool>& cancel) {
        int64_t last = after;
        while (!cancel) {
          auto started = std::chrono::steady_clock::now();
          auto evs = events->Read(last, 100, std::chrono::seconds(1));
          if (!evs.ok()) return SendStreamError(ws, evs.error());
          // A log that no longer waits (the daemon is stopping) is not polled hot.
          if (evs->empty() && std::chrono::steady_clock::now() - started < std::chrono::milliseconds(100)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
          for (const auto& e : *evs) {
            if (!ws.Send(Msg(StreamType::kEvent), SafeDump(ToJson(e))).ok()) return;
            last = e.seq;
          }
        }
      });
    });
  });
}

}  // namespace banger
