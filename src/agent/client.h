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
};

struct ExecRequest {
  std::vector<std::string> argv;  // argv[0] looked up in the guest's PATH
  std::map<std::string, std::string> env;
  std::string cwd;   // "" = /root
  bool tty = false;  // a pty; stdout carries both streams
  uint16_t rows = 24, cols = 80;
};

struct ExitStatus {
  bool signaled = false;
  int code = 0;   // exit code when !signaled
  int signo = 0;  // signal when signaled
  bool core = false;
  // The shell convention: code, or 128 + signo.
  int ShellCode() const { return signaled ? 128 + signo : code; }
};

struct ExecEvent {
  enum Kind { kStdout, kStderr, kExit } kind = kStdout;
  std::string data;  // for kStdout/kStderr
  ExitStatus exit;   // for kExit (always the last event)
};

class ExecChannel {
 public:
  virtual ~ExecChannel() = default;
  // Blocks while the guest has granted no credit (flow control).
  virtual Status WriteStdin(std::string_view data) = 0;
  virtual Status CloseStdin() = 0;
  virtual Status Signal(int signo) = 0;
  virtual Status Resize(uint16_t rows, uint16_t cols) = 0;
  // The next output or the exit; blocks. After kExit, returns an error.
  virtual Result<ExecEvent> Next() = 0;
  // Next, but a kTimeout error at `deadline` (the channel stays usable).
  virtual Result<ExecEvent> NextUntil(std::chrono::steady_clock::time_point deadline) = 0;
};

class AgentConn {
 public:
  virtual ~AgentConn() = default;
  // Sends HELLO and waits for the guest's HELLO_ACK (discarding stale bytes
  // first). A different major version is an error naming both versions.
  static Result<std::unique_ptr<AgentConn>> Handshake(UniqueFd fd, std::chrono::milliseconds timeout);
  virtual const AgentInfo& info() const = 0;
  // Starts a command. A command that cannot be started (not found, not
  // executable) still opens: it reports its error on stderr and exits 127/126.
  virtual Result<std::unique_ptr<ExecChannel>> Exec(const ExecRequest& req) = 0;
  // Round trip to the agent (liveness).
  virtual Status Ping(std::chrono::milliseconds timeout) = 0;
};

}  // namespace banger
