// The host side of the guest-agent protocol (docs/agent-protocol.md):
// connect to a VM's agent, handshake, and run commands with live,
// flow-controlled stdin/stdout/stderr over one multiplexed connection.
//
// Transports: QEMU's virtio-serial chardev socket (<vm_dir>/agent.sock, one
// client at a time) and Firecracker's hybrid vsock (<vm_dir>/v.sock, then
// "CONNECT <port>\n"). Both carry the same framed byte stream.
//
// Thread-safety: AgentConn is safe to use from several threads; each
// ExecChannel is used by one reader thread (Next) and one writer thread
// (WriteStdin/CloseStdin/Signal/Resize) at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/log_limiter.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace banger {

inline constexpr uint32_t kAgentVsockPort = 1024;
inline constexpr const char* kAgentSerialName = "banger.agent";

// Connects to QEMU's agent chardev socket.
Result<UniqueFd> ConnectAgentUnix(const std::string& path, std::chrono::milliseconds timeout);
// Connects through Firecracker's hybrid vsock UDS and performs CONNECT <port>.
Result<UniqueFd> ConnectAgentVsock(const std::string& uds_path, uint32_t port,
                                   std::chrono::milliseconds timeout);

struct AgentInfo {
  uint16_t major = 0, minor = 0;
  std::string build;    // agent build string
  std::string boot_id;  // the guest kernel's boot id
  std::string hostname;
  std::string vm_id;  // the id the guest holds now (after a fixup: the new one); "" from older agents
};

struct ExecRequest {
  std::vector<std::string> argv;  // argv[0] looked up in the guest's PATH
  std::map<std::string, std::string> env;
  std::string cwd;   // "" = /root
  bool tty = false;  // a pty; stdout carries both streams
  uint16_t rows = 24, cols = 80;
  // How long Exec waits for the agent's OPEN_OK.
  std::chrono::milliseconds open_timeout{std::chrono::seconds(30)};
  // "" = root; else "name", "uid", "uid:gid" or "name:group", resolved by the
  // agent in the guest's /etc/passwd and /etc/group (OPEN's user field, tag
  // 0x21; protocol 1.1). A name the guest does not know fails the Exec with
  // kInvalidArgument and the agent's words ("unable to find user app: no
  // matching entries in passwd file"); an agent older than 1.1 with
  // kUnavailable (nothing runs as root instead).
  std::string user;
};

// At most 256 bytes and no control characters (ExecRequest::user; Exec
// checks it too).
Status ValidateExecUser(const std::string& user);

// Limits for one connection: the guest is not trusted to read, to grant
// credit or to keep to the protocol (docs/agent-protocol.md, "Hostile guests").
struct AgentConnOptions {
  // Host -> guest frames wait in a queue of at most this many bytes, sent by
  // the connection's writer thread; a sender waits for room at most
  // send_timeout, and a guest that does not take a queued frame within
  // send_timeout loses the connection.
  size_t max_send_queue = 1 << 20;
  std::chrono::milliseconds send_timeout{std::chrono::seconds(10)};
  // WriteStdin waits at most this long for the guest to grant stdin credit.
  std::chrono::milliseconds stdin_credit_timeout{std::chrono::seconds(60)};
  // Guest-originated log lines ("agent reported error", protocol violations)
  // go through this limiter; shared by every connection of one VM so a
  // reconnect does not refill it. Null: one per connection.
  std::shared_ptr<GuestLogLimiter> log_limiter;
  std::string label = "agent";  // prefix of log lines, e.g. "vm web1"
};

struct ExitStatus {
  bool signaled = false;
  int code = 0;   // exit code when !signaled
  int signo = 0;  // signal when signaled
  bool core = false;
  // The shell convention: code, or 128 + signo. The client accepts only
  // code 0..255 and signo 1..64 from the guest (anything else is a protocol
  // violation), so this is 0..192.
  int ShellCode() const { return signaled ? 128 + signo : code; }
};

struct ExecEvent {
  // kStdoutEof: the command closed its stdout (a connect-mode relay's guest
  // peer closed its side); more kStderr and the kExit may still follow.
  enum Kind { kStdout, kStderr, kStdoutEof, kExit } kind = kStdout;
  std::string data;  // for kStdout/kStderr
  ExitStatus exit;   // for kExit (always the last event)
};

class ExecChannel {
 public:
  virtual ~ExecChannel() = default;
  // Blocks while the guest has granted no credit (flow control): kTimeout
  // after the connection's stdin_credit_timeout without any, an error at once
  // when the channel is aborted or the connection is lost.
  virtual Status WriteStdin(std::string_view data) = 0;
  virtual Status CloseStdin() = 0;
  virtual Status Signal(int signo) = 0;
  virtual Status Resize(uint16_t rows, uint16_t cols) = 0;
  // The next output or the exit; blocks. After kExit, returns an error.
  virtual Result<ExecEvent> Next() = 0;
  // Next, but a kTimeout error at `deadline` (the channel stays usable).
  virtual Result<ExecEvent> NextUntil(std::chrono::steady_clock::time_point deadline) = 0;
  // Gives up on the command from any thread: blocked and later calls fail
  // with `reason`, and the agent is told to kill it.
  virtual void Abort(const std::string& reason) = 0;
};

class AgentConn {
 public:
  virtual ~AgentConn() = default;
  // Sends HELLO and waits for the guest's HELLO_ACK (discarding stale bytes
  // first). A different major version is an error naming both versions.
  static Result<std::unique_ptr<AgentConn>> Handshake(UniqueFd fd, std::chrono::milliseconds timeout,
                                                      AgentConnOptions opts = {});
  virtual const AgentInfo& info() const = 0;
  // Starts a command. A command that cannot be started (not found, not
  // executable) still opens: it reports its error on stderr and exits 127/126.
  virtual Result<std::unique_ptr<ExecChannel>> Exec(const ExecRequest& req) = 0;
  // Round trip to the agent (liveness).
  virtual Status Ping(std::chrono::milliseconds timeout) = 0;
  // Drops the connection now, from any thread: every wait on it fails.
  virtual void Close(const std::string& reason) = 0;
};

}  // namespace banger
