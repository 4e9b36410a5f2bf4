// WebSocket connections (RFC 6455, Boost.Beast underneath; only ws.cc
// includes Beast's websocket) with a small blocking API: the API's streams
// (docs/api.md "Streams", docs/adr/0026). The server side is made by
// HttpServer for a handler that answers with HttpResponse::websocket; the
// client side by WsDialUnix.
//
// Each connection has one I/O thread running its Beast stream; Send() and
// Recv() hand it work and block until it is done (Send: until at most a
// 256 KiB window is still unwritten), so a caller that sends is held back as
// long as the peer does not read (back pressure), up to the write timeout,
// after which the connection is dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace banger {

// The largest payload of a binary message, and of a whole message ([type]
// + payload): a bigger incoming message closes the connection with 1009.
inline constexpr size_t kWsMaxPayload = size_t{1} << 20;
inline constexpr size_t kWsMaxMessage = kWsMaxPayload + 1;

struct WsOptions {
  // A message (or ping, or close) not written within this time drops the
  // connection: Send() then fails as if the peer had gone.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // A ping is sent after this long without any write (0: never).
  std::chrono::milliseconds ping_interval{std::chrono::seconds(30)};
  // The closing handshake's time limit.
  std::chrono::milliseconds close_timeout{std::chrono::seconds(5)};
};

struct WsMessage {
  bool text = false;
  std::string data;  // binary: [type u8][payload]
  // The binary message's type byte (0 for an empty or text message).
  uint8_t type() const { return text || data.empty() ? 0 : static_cast<uint8_t>(data[0]); }
  std::string_view payload() const {
    return text || data.empty() ? std::string_view(data) : std::string_view(data).substr(1);
  }
};

// Thread-safety: Send/SendText/Close may be called from several threads
// (they are serialized); Recv from one thread at a time, concurrently with
// the others.
class WsConn {
 public:
  struct Impl;
  explicit WsConn(std::unique_ptr<Impl> impl);
  ~WsConn();
  WsConn(const WsConn&) = delete;
  WsConn& operator=(const WsConn&) = delete;

  // One binary message [type][payload]; blocks while more than 256 KiB of
  // earlier messages wait to be written (the back pressure), so an error
  // may be that of an earlier message. The payload is at most
  // kWsMaxPayload bytes.
  Status Send(uint8_t type, std::string_view payload);
  // A text message (the peer refuses one larger than kWsMaxMessage).
  Status SendText(std::string_view text);
  // The next data message; nullopt when the peer closed the connection
  // cleanly (a close frame). An error when it broke, was dropped, sent too
  // big a message (closed with 1009), or (kTimeout) nothing came within
  // `timeout`; after a timeout the read stays pending and the next Recv
  // waits for it.
  Result<std::optional<WsMessage>> Recv(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Sends a close frame (after the messages being sent) and waits for the
  // peer's answer, at most close_timeout; then the connection is shut down.
  // Idempotent.
  void Close(uint16_t code = 1000, std::string_view reason = "");
  // Shuts the connection down now, without a closing handshake: blocked
  // Send/Recv calls return.
  void Abort();
  // The close code the peer sent (0 when none yet).
  uint16_t peer_close_code() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// Server side: completes the WebSocket handshake on `fd`, whose request
// (the whole request head, serialized) and any bytes after it are `raw`.
// A bad handshake is answered 400 by Beast and returned as an error.
Result<std::unique_ptr<WsConn>> WsAccept(UniqueFd fd, const std::string& raw, const WsOptions& options,
                                         const std::map<std::string, std::string>& response_headers);

// The client side of a WebSocket on a Unix socket: on 101, `conn`;
// otherwise `status` and `response_body` are the daemon's (error) answer.
struct WsDial {
  int status = 0;
  std::string response_body;
  std::unique_ptr<WsConn> conn;
};
// GET `target` with the upgrade and `headers`; `timeout` bounds connecting
// and the handshake.
Result<WsDial> WsDialUnix(const std::string& socket_path, const std::string& target,
                          const std::map<std::string, std::string>& headers,
                          std::chrono::milliseconds timeout, const WsOptions& options = {});
// The same over TCP ("HOST:PORT", an IP literal), for tests of the web listener.
Result<WsDial> WsDialTcp(const std::string& host_port, const std::string& target,
                         const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout,
                         const WsOptions& options = {});

}  // namespace banger
