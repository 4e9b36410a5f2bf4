// CpService: files in and out of a guest (`banger vm cp`, the files API),
// through the guest agent's cp-out / cp-in / stat / ls subcommands run with
// GuestExec (wire format: docs/adr/0022; transport to the client:
// docs/adr/0023). Streams pass through in bounded chunks: the caller's sink
// and source block, which is the back pressure towards the guest (agent
// stdout credit) and towards the client (socket buffers). A guest that goes
// quiet longer than the idle timeout costs this one call (kTimeout), nothing
// else. The archive's SHA-256 is checked on every byte that passed.
//
// Thread-safety: stateless but for its references; calls may run at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/sha256.h"
#include "daemon/guest_exec.h"
#include "model/json.h"
#include "model/requests.h"

namespace banger {

// The agent's failure line: `banger-cp error=<code> <message>`.
struct CpGuestError {
  std::string code;  // not_found, permission, no_space, ...
  std::string message;
};
// The last such line in the agent's stderr, if any.
std::optional<CpGuestError> ParseCpErrorLine(std::string_view text);

// The agent's success line: `banger-cp ok sha256=<hex> bytes=<N>[ entries=<M>]`.
struct CpOkLine {
  std::string sha256;
  int64_t bytes = 0;
  int64_t entries = -1;  // -1 when absent (cp-out)
};
std::optional<CpOkLine> ParseCpOkLine(std::string_view text);

// The API's HTTP status for a guest error code (404, 403, 507, 409, 400,
// 413, 500), and the Error kind it becomes.
int CpHttpStatus(const std::string& code);
ErrorKind CpErrorKind(const std::string& code);

// An absolute guest path without NUL, at most 4096 bytes.
Status ValidateGuestCpPath(const std::string& path);

// cp-in's stdin framing: [u32 BE len 1..1 MiB][bytes]..., then [u32 0]
// [32-byte SHA-256 of all bytes]. `out` gets each frame.
class CpFrameWriter {
 public:
  static constexpr size_t kMaxFrame = size_t{1} << 20;
  explicit CpFrameWriter(std::function<Status(std::string_view)> out) : out_(std::move(out)) {}
  Status Write(std::string_view data);
  // The terminator; returns the digest's hex.
  Result<std::string> Finish();
  int64_t bytes() const { return bytes_; }

 private:
  std::function<Status(std::string_view)> out_;
  Sha256 sha_;
  int64_t bytes_ = 0;
};

struct CpOutResult {
  int64_t bytes = 0;
  std::string sha256;
};
struct CpInResult {
  int64_t bytes = 0;
  int64_t entries = 0;
  std::string sha256;
};

struct CpOptions {
  std::chrono::milliseconds agent_timeout{std::chrono::seconds(60)};
  // The guest sends nothing (cp-out) or takes nothing (cp-in) this long.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // After the last byte, cp-in's commit (renames) must end within this.
  std::chrono::milliseconds commit_timeout{std::chrono::minutes(10)};
};

// Sink: takes the next archive bytes (blocking); an error ends the copy.
using CpSink = std::function<Status(std::string_view)>;
// Source: the next archive bytes, nullopt at the end; an error ends the copy
// (the guest then commits nothing).
using CpSource = std::function<Result<std::optional<std::string>>()>;

class CpService {
 public:
  explicit CpService(VmService& vms, std::string agent_path = "/usr/local/sbin/banger-agent",
                     CpOptions opts = {})
      : exec_(vms), agent_(std::move(agent_path)), opts_(opts) {}

  // The tar of `path` (cp-out) to `sink`; verified against the agent's
  // digest before success is returned. `code` (optional) gets the guest's
  // error code on a guest failure.
  Result<CpOutResult> CopyOut(const std::string& ref, const std::string& path, bool follow_links,
                              const CpSink& sink, std::string* code = nullptr);
  // A tar from `source` extracted under the guest directory `dir` (cp-in).
  Result<CpInResult> CopyIn(const std::string& ref, const std::string& dir, const std::string& chown,
                            const CpSource& source, std::string* code = nullptr);
  // `banger-agent stat` / `ls` answers, parsed.
  Result<Json> Stat(const std::string& ref, const std::string& path, std::string* code = nullptr);
  Result<Json> List(const std::string& ref, const std::string& path, std::string* code = nullptr);

  // A regular file of at most `max_bytes` (larger: too_large), read whole.
  Result<std::string> ReadFile(const std::string& ref, const std::string& path, int64_t max_bytes,
                               std::string* code = nullptr);
  // `data` written atomically as `path` (a one-entry tar into its directory).
  Result<CpInResult> WriteFile(const std::string& ref, const std::string& path, const std::string& data,
                               unsigned mode, const std::string& chown, std::string* code = nullptr);

 private:
  Result<Json> RunJson(const std::string& ref, const std::string& verb, const std::string& path,
                       std::string* code);

  GuestExec exec_;
  std::string agent_;
  CpOptions opts_;
};

}  // namespace banger
