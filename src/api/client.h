// The client side of the bangerd API (docs/api.md), as the CLI uses it: one
// HTTP call per request over <home>/bangerd.sock, API error bodies turned
// back into Errors, and starting bangerd when no daemon answers.
//
// An ApiClient holds no connection (every call opens its own), so it is cheap
// to copy and safe to use from several threads at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "http/http.h"
#include "http/ws.h"
#include "model/json.h"

namespace banger {

// Reads answer quickly; creating, starting and stopping VMs can take minutes
// when guests boot under TCG.
inline constexpr std::chrono::milliseconds kReadTimeout = std::chrono::seconds(10);
inline constexpr std::chrono::milliseconds kLongTimeout = std::chrono::minutes(10);
// How long a ping may take before the daemon counts as not answering.
inline constexpr std::chrono::milliseconds kPingTimeout = std::chrono::seconds(1);
// How long a started (or stopping) daemon gets to come up (or go away).
inline constexpr std::chrono::milliseconds kDaemonWaitTimeout = std::chrono::seconds(15);

// The ErrorKind for an API error code ("not_found"); unknown codes are internal.
ErrorKind ErrorKindFromCode(const std::string& code);

// The Error a non-2xx answer carries: kind and message from its
// {"error": {"code", "message"}} body, or a description of the status when
// the body is not one.
Error ErrorFromResponse(const HttpResponse& resp);

// True when some process holds the flock on `path` (read from /proc/locks,
// without taking the lock: taking it, even briefly, could make a starting
// daemon believe it lost the race).
bool FileLockHeld(const std::string& path);

// Where bangerd is: $BANGER_BANGERD, else next to the running executable,
// else in PATH.
Result<std::string> FindBangerd();

class ApiClient {
 public:
  // `config_path` is handed to a bangerd this client starts ("" = none).
  ApiClient(HomeLayout home, std::string config_path);

  const HomeLayout& home() const { return home_; }
  // The config file handed to a daemon this client starts.
  const std::string& config_path() const { return config_path_; }

  // One API call; `target` is the path plus query. A 2xx answer's JSON body
  // is returned ({} when empty); anything else becomes an Error.
  Result<Json> Call(const std::string& method, const std::string& target, const Json* body = nullptr,
                    std::chrono::milliseconds timeout = kReadTimeout);
  // The same for endpoints whose body is not JSON (logs): the response as is
  // when 2xx, an Error otherwise.
  Result<HttpResponse> Raw(const std::string& method, const std::string& target, const std::string& body,
                           std::chrono::milliseconds timeout = kReadTimeout);

  // Opens a stream (docs/api.md "Streams"): the WebSocket upgrade of
  // `target` within `timeout` (a refusal becomes its Error, as Call's), then
  // the opening request `open`, when given, as the first message.
  Result<std::unique_ptr<WsConn>> OpenStream(const std::string& target, const Json* open,
                                             std::chrono::milliseconds timeout, const WsOptions& options);

  // GET `target` and its answer's member `key` as indented JSON text, as
  // SafeDump(Call(...).value(key, []), indent) but without building the
  // tree (model/json_member.h): `vm list --json` of hundreds of VMs.
  Result<std::string> GetMemberText(const std::string& target, const std::string& key, int indent);

  // GET /v1/ping. kUnavailable when no daemon listens on the socket.
  Result<Json> Ping();

  // Makes sure a daemon answers: pings, and when nothing listens starts
  // bangerd in the background and waits for it to answer.
  Status EnsureDaemon();

  // Asks the daemon to stop and waits until it stops answering and its
  // process is gone. A daemon that is not running is already stopped.
  Status StopDaemon();

 private:
  Result<pid_t> SpawnDaemon(const std::string& bangerd);

  HomeLayout home_;
  std::string config_path_;
};

}  // namespace banger
