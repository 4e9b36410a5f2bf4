// What the API's handlers share: JSON answers and errors, request bodies
// and query parameters read at the edge, and the upgraded answers (progress
// streams, exec streams).
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

// Ok when the client asked to upgrade; else the error saying `what` needs it.
Status RequireUpgrade(const HttpRequest& req, const std::string& what);

// A long operation on an upgraded connection: progress frames, then one
// result or error frame. The client going away sets `cancel`.
using ProgressOp = std::function<Result<Json>(const std::function<void(const std::string&)>& progress,
                                              const std::atomic<bool>& cancel)>;
// The 101 answer that runs `op` on the upgraded connection.
HttpResponse ProgressUpgrade(ProgressOp op);
// A 101 that hands the upgraded connection (and what was read past the
// request) to `serve`, on the request's thread.
HttpResponse StreamUpgrade(std::function<void(UniqueFd, std::string)> serve);

template <typename T>
Result<Json> ToJsonResult(Result<T> r) {
  if (!r.ok()) return std::move(r).error();
  return ToJson(*r);
}

// The 101 answer relaying an upgraded connection to an exec in a VM.
// `may_be_run_command`: `POST /v1/vms/{id}/exec`, whose first command on an
// auto-remove VM is its run command (docs/api.md).
HttpResponse ExecUpgrade(VmService& vms, const std::string& vm_id, const ExecRequest& exec,
                         std::chrono::milliseconds agent_timeout, bool may_be_run_command = false);

}  // namespace banger
