// HTTP/1.1 over Unix domain sockets (Boost.Beast underneath; no file outside
// src/http includes Beast: the server is http.cc, the client http_client.cc).
// Used for three things: the daemon's API server, the CLI's API client, and
// the Firecracker API client.
//
// Long-lived bidirectional streams (exec, attach, builds, follows) are
// WebSockets (http/ws.h): a handler answers with HttpResponse::websocket and
// the server completes the handshake and hands it the connection.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "http/ws.h"

namespace banger {

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path + optional "?query"
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  // Who is on the other end of a Unix-socket connection (SO_PEERCRED), set
  // by HttpServer; unset for TCP and for requests built by hand.
  std::optional<uid_t> peer_uid;
  // The same connection's gid (SO_PEERCRED) and supplementary groups
  // (SO_PEERGROUPS), set with peer_uid.
  std::optional<gid_t> peer_gid;
  std::vector<gid_t> peer_groups;

  // Path without the query string.
  std::string Path() const;
  // Decoded query parameters (last one wins).
  std::map<std::string, std::string> Query() const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  // Set by a handler that accepts a WebSocket (the request passed
  // IsWebSocketUpgrade): the server answers the handshake (101, with
  // `headers`; status and body are ignored) and runs this on the
  // connection's thread, then closes the WebSocket (1000) if it is still
  // open.
  std::function<void(WsConn&)> websocket;
};

// A WebSocket opening request: GET with "Connection: Upgrade" and
// "Upgrade: websocket" (the key and version are checked by the handshake).
bool IsWebSocketUpgrade(const HttpRequest& req);

// One request, one connection. The timeout bounds connect + write + read.
Result<HttpResponse> UnixHttpCall(const std::string& socket_path, const HttpRequest& req,
                                  std::chrono::milliseconds timeout);

// Percent-encodes a path segment or query value.
std::string UrlEncode(const std::string& s);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// What one HttpServer lets a client hold (docs/security.md). The defaults
// suit the API socket; the daemon lowers max_connections for TCP.
struct HttpLimits {
  // Connections served at once (WebSockets included); one more is
  // answered 503 and closed.
  int max_connections = 256;
  // From accepting a connection (or the first byte of a later request) to
  // the end of the request head; a client that stalls is dropped.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // A keep-alive connection idle this long between requests is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Reading a request body, and writing a response.
  std::chrono::milliseconds io_timeout{std::chrono::seconds(60)};
  // A larger body is answered 413.
  size_t max_body_bytes = size_t{8} * 1024 * 1024;
  // WebSocket streams: a message the client does not take within
  // ws_write_timeout drops the connection; an idle stream is pinged every
  // ws_ping_interval.
  std::chrono::milliseconds ws_write_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds ws_ping_interval{std::chrono::seconds(30)};
};

// A thread-per-connection HTTP server on a Unix socket (the API) or a TCP
// address (the web UI).
// Thread-safety: Shutdown() may be called from any thread.
class HttpServer {
 public:
  // Binds `path` (a stale socket file is replaced) with the given mode.
  // `group` (when set) becomes the socket's group, for a mode like 0660.
  static Result<std::unique_ptr<HttpServer>> ListenUnix(const std::string& path, unsigned mode,
                                                        std::optional<gid_t> group = std::nullopt);
  // Binds "HOST:PORT" (HOST an IPv4 literal, "[IPv6]" or "localhost"; PORT 0
  // picks a free one, see port()).
  static Result<std::unique_ptr<HttpServer>> ListenTcp(const std::string& host_port);
  // Serves on a listening Unix socket someone else made and keeps (systemd's
  // socket activation): Shutdown() stops accepting but neither shuts the
  // socket down nor unlinks `path`, so connections that arrive meanwhile wait
  // for the next daemon.
  static Result<std::unique_ptr<HttpServer>> AdoptUnix(UniqueFd fd, std::string path);
  ~HttpServer();
  // The bound TCP port (0 for a Unix socket).
  int port() const { return port_; }
  // Call before Serve().
  void SetLimits(const HttpLimits& limits) { limits_ = limits; }
  // Connections served now, and refused (503) so far: GET /metrics.
  int connections() {
    std::lock_guard<std::mutex> lk(mu_);
    return active_;
  }
  uint64_t refused_total() {
    std::lock_guard<std::mutex> lk(mu_);
    return refused_total_;
  }

  // Serves one already-accepted connection on the calling thread, as
  // Serve() would (limits, timeouts, exception guards), until the client
  // goes away. For tests and fuzzers; `handler` replaces Serve()'s. Not
  // while Serve() runs.
  void ServeConnectionForTest(UniqueFd fd, HttpHandler handler);

  // Accepts connections until Shutdown(); each connection gets its own
  // thread that serves keep-alive requests through `handler`. Blocks.
  // A handler or WebSocket callback that throws is logged: the client gets a
  // 500 (a WebSocket is closed), the daemon goes on.
  void Serve(HttpHandler handler);
  // Stops accepting, closes the listener, shuts down every connection
  // (WebSockets included: their callbacks see the end of the stream and
  // must return) and waits for the connection threads, which finish
  // the handler they are in. A connection whose request is being answered
  // (handler running or answer being written) is left to deliver its
  // answer first (the 202 of a `daemon stop` is one), for at most
  // kAnswerGrace, then shut down like the others.
  void Shutdown();
  static constexpr std::chrono::seconds kAnswerGrace{3};

 private:
  using Clock = std::chrono::steady_clock;
  HttpServer(UniqueFd fd, std::string path, int port, bool adopted = false);
  void ServeConnection(int fd);
  template <typename Socket>
  void ServeOn(Socket& sock, int fd);
  // The watchdog: shuts down connections past their deadline, closes
  // refused ones. Runs while Serve() does.
  void Watchdog();
  void SetDeadline(int fd, Clock::time_point when);
  // Completes the WebSocket handshake (`raw`: the request head and what
  // followed it) and runs resp.websocket.
  void ServeWebSocket(int fd, const std::string& raw, HttpResponse& resp, const std::string& target);
  // Answers 503 on a connection over the cap and hands it to the watchdog.
  void RefuseBusy(int fd);
  // Marks fd as answering a request (see answering_) or not.
  void SetAnswering(int fd, bool on);

  UniqueFd listen_fd_;
  std::string path_;  // "" for TCP
  int port_ = 0;
  bool adopted_ = false;  // AdoptUnix: the listener is not ours to shut down or unlink
  UniqueFd wake_fd_;      // an eventfd: Shutdown() wakes Serve()'s accept loop with it
  HttpLimits limits_;
  std::atomic<bool> stopping_{false};
  HttpHandler handler_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::condition_variable watchdog_cv_;
  bool watchdog_stop_ = false;  // Guarded by mu_.
  int active_ = 0;              // Connection threads alive. Guarded by mu_.
  // Open connection fds and when each must be shut down (max() = no
  // deadline: a handler or an upgraded stream runs). Guarded by mu_.
  std::map<int, Clock::time_point> conns_;
  // The connections in conns_ between a complete request and the end of its
  // plain answer (or the WebSocket handshake): Shutdown lets these finish
  // their answer instead of cutting it off. Guarded by mu_.
  std::set<int> answering_;
  // Connections answered 503, closed at their time. Guarded by mu_.
  std::vector<std::pair<int, Clock::time_point>> refused_;
  uint64_t refused_total_ = 0;  // Guarded by mu_.
};

}  // namespace banger
