// What the API's handlers share: JSON answers and errors, request bodies
// and query parameters read at the edge, and the WebSocket streams
// (progress streams, exec streams, follow streams).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "agent/client.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "daemon/vm_service.h"
#include "http/http.h"
#include "model/json.h"

namespace banger {

HttpResponse JsonResponse(int status, const Json& body);
// Renders an Error as the API's error response.
HttpResponse ErrorResponse(const Error& e);
int HttpStatusFor(ErrorKind k);

// Evaluates a Result; on error, returns its error response from the handler.
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` may be a declaration.
#define API_TRY(lhs, expr)                                                                            \
  auto BANGER_CONCAT(_r_, __LINE__) = (expr);                                                         \
  if (!BANGER_CONCAT(_r_, __LINE__).ok()) return ErrorResponse(BANGER_CONCAT(_r_, __LINE__).error()); \
  lhs = std::move(BANGER_CONCAT(_r_, __LINE__)).value()
// NOLINTEND(bugprone-macro-parentheses)

// The request body as a JSON object ({} when empty).
Result<Json> Body(const HttpRequest& req);

// The body as a T of model/requests.h (strict, then its checks).
template <typename T>
Result<T> DecodeBody(const HttpRequest& req) {
  BANGER_ASSIGN_OR_RETURN(Json body, Body(req));
  return Decode<T>(body);
}

// An integer query parameter in [lo, hi]; `def` when absent or empty.
Result<int64_t> QueryInt(const std::map<std::string, std::string>& q, const std::string& key, int64_t def,
                         int64_t lo, int64_t hi);
// "true", "1" or present without a value.
bool QueryBool(const std::map<std::string, std::string>& q, const std::string& key);

// A VM as the API shows it: the record plus its handles when it has some.
Json VmViewJson(const VmView& v);

// Ok for a WebSocket opening request; else the 400 saying `what` is a
// WebSocket stream.
Status RequireWebSocket(const HttpRequest& req, const std::string& what);

// The answer accepting the WebSocket and running `serve` on it (on the
// request's thread); the server closes it (1000) when `serve` returns.
HttpResponse WebSocketStream(std::function<void(WsConn&)> serve);

// How long a stream that takes an opening request waits for it.
inline constexpr std::chrono::seconds kOpenRequestTimeout{30};
// The opening request of a stream: the first message, a text message
// holding a JSON object.
Result<Json> ReadOpenRequest(WsConn& ws, const std::string& what,
                             std::chrono::milliseconds timeout = kOpenRequestTimeout);
template <typename T>
Result<T> ReadOpen(WsConn& ws, const std::string& what) {
  BANGER_ASSIGN_OR_RETURN(Json j, ReadOpenRequest(ws, what));
  return Decode<T>(j, what.c_str());
}
// The last message of a failed stream.
void SendStreamError(WsConn& ws, const Error& e);

// A long operation on a WebSocket: progress messages, then one result or
// error message. The client going away sets `cancel`.
using ProgressOp = std::function<Result<Json>(const std::function<void(const std::string&)>& progress,
                                              const std::atomic<bool>& cancel)>;
// The stream that reads its opening request (`what`, a JSON object), makes
// the operation from it with `make` (an error there is the stream's error
// message) and runs it.
HttpResponse ProgressStream(const std::string& what,
                            std::function<Result<ProgressOp>(const Json& open)> make);

// Runs `loop(cancel)` while a reader notices the client going away (which
// sets `cancel`): the follow streams (events, console), which send and
// never expect a message.
void WithClientWatch(WsConn& ws, const std::function<void(const std::atomic<bool>& cancel)>& loop);

template <typename T>
Result<Json> ToJsonResult(Result<T> r) {
  if (!r.ok()) return std::move(r).error();
  return ToJson(*r);
}

// The stream relaying a WebSocket to an exec in a VM (api/exec_stream.h).
HttpResponse ExecStream(VmService& vms, const std::string& vm_id, const ExecRequest& exec,
                        std::chrono::milliseconds agent_timeout);

}  // namespace banger
