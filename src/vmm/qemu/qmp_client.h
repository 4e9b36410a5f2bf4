// QmpClient: one connection to a QEMU QMP socket. The wire is one JSON
// object per line: QEMU greets with {"QMP": ...}, refuses everything until
// the client sends qmp_capabilities, answers each {"execute": ..., "id": n}
// with {"return": ...} or {"error": ...} carrying the same id, and may send
// {"event": ...} lines at any moment in between.
//
// QEMU serves one QMP client per socket at a time, so callers hold a client
// only for the few commands they need.
//
// Thread-safety: one thread at a time per client. Move-only (owns its fd).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "model/json.h"
#include "vmm/launch_util.h"

namespace banger {

class QmpClient {
 public:
  // Connects, reads the greeting and negotiates capabilities, all within
  // `timeout`. kUnavailable if nothing listens on the socket (yet).
  static Result<QmpClient> Connect(const std::string& socket_path, std::chrono::milliseconds timeout);

  // Runs one command and returns its "return" value; events read meanwhile
  // are skipped. An {"error": ...} answer becomes an error with QEMU's text.
  Result<Json> Execute(const std::string& command, std::chrono::milliseconds timeout,
                       const Json& arguments = Json());
  // As Execute, with `fd` passed along the command's first byte (SCM_RIGHTS):
  // QMP getfd / add-fd take their descriptor that way.
  Result<Json> ExecuteWithFd(const std::string& command, std::chrono::milliseconds timeout,
                             const Json& arguments, int fd);

 private:
  QmpClient(UniqueFd fd, std::string socket_path)
      : fd_(std::move(fd)), socket_path_(std::move(socket_path)) {}

  // `pass_fd` >= 0 rides along the first byte sent.
  Status WriteLine(const std::string& line, const Deadline& deadline, int pass_fd = -1);
  Result<Json> Run(const std::string& command, std::chrono::milliseconds timeout, const Json& arguments,
                   int pass_fd);
  // The next complete JSON line.
  Result<Json> ReadMessage(const Deadline& deadline);

  UniqueFd fd_;
  std::string socket_path_;
  std::string buf_;  // bytes read past the last complete line
  int64_t next_id_ = 1;
};

}  // namespace banger
