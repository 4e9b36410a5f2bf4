// A Unix-socket listener for a TtrpcServer: binds a path, accepts on a thread
// of its own and serves each connection with TtrpcServer::Serve on a thread
// per connection (at most max_connections at once; more are closed at once).
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/result.h"
#include "base/unique_fd.h"
#include "ttrpc/io.h"
#include "ttrpc/server.h"

namespace banger::ttrpc {

class UnixListener {
 public:
  // Listens on `path` (mode 0600 via the umask of the caller's choosing; a
  // stale socket file there is replaced, any other file is an error) and
  // starts accepting. `server` must outlive the listener.
  static Result<std::unique_ptr<UnixListener>> Start(const std::string& path, TtrpcServer* server,
                                                     size_t max_connections = 16);
  ~UnixListener();
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Stops accepting, shuts the server down (every connection it serves ends,
  // each within its drain timeout), joins the threads and removes the socket
  // file. Idempotent.
  void Stop();

  const std::string& path() const { return path_; }
  // Connections being served now.
  size_t active() const;

 private:
  struct ConnThread {
    std::thread thread;
    bool done = false;
  };

  UnixListener(std::string path, UniqueFd fd, Waker waker, TtrpcServer* server, size_t max_connections)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        waker_(std::move(waker)),
        server_(server),
        max_connections_(max_connections) {}
  void AcceptLoop();
  void ReapLocked();

  const std::string path_;
  UniqueFd fd_;
  Waker waker_;
  TtrpcServer* server_;
  const size_t max_connections_;
  std::thread accept_thread_;

  mutable std::mutex mu_;
  std::list<ConnThread> conns_;
  bool stopped_ = false;
};

// Connects to the Unix socket at `path`, waiting at most `timeout` for
// accept room. Used by the client; exposed for tests and the shim.
Result<UniqueFd> ConnectUnix(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace banger::ttrpc
