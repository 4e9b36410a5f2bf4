// The guest agent's event loop: one thread, one poll() over the transport
// fds, every command's pipes or pty, and a signalfd for SIGCHLD. Each
// connection (a vsock or Unix socket accepted from a listener, or the one
// virtio-serial port) is an independent multiplexer of EXEC channels.
//
// Memory stays bounded whatever the host does: a command's output is read
// only while the host has granted credit and the connection's send backlog is
// small, so a slow host makes the command block on a full pipe; stdin is
// accepted only up to the credit this agent granted.
//
// The loop and the connections are in agent.cc, the handlers for frames from
// the host in agent_frames.cc, and each command's I/O and reaping in
// agent_exec.cc.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/protocol.h"
#include "base/unique_fd.h"

namespace banger::agent {

class Agent {
 public:
  explicit Agent(std::string build);
  // Serves every connection accepted on a listening socket (vsock or Unix).
  void AddListener(UniqueFd listen_fd);
  // Serves a virtio-serial port: one host at a time; a host leaving or
  // arriving shows as POLLHUP being set or cleared.
  void AddSerialPort(UniqueFd port_fd);
  // Runs the loop; returns an exit code only if the loop itself cannot go on.
  int Run();

 private:
  using Clock = std::chrono::steady_clock;

  struct Exec {
    uint32_t channel = 0;
    pid_t pid = -1;
    bool tty = false;
    UniqueFd stdin_fd, stdout_fd, stderr_fd;
    // Output: DATA bytes the host still lets us send.
    uint64_t send_credit = 0;
    // Stdin: bytes received but not yet written to the command; the host's
    // remaining credit; bytes written since the last WINDOW.
    std::string stdin_buf;
    uint64_t stdin_credit = 0;
    uint64_t stdin_unacked = 0;
    bool stdin_eof = false;     // the host sent EOF{stdin}
    bool stdin_broken = false;  // the command closed its stdin: discard
    // Set once reaped. Output that was already in the pipes at that moment
    // (owed_*) is always delivered; anything later only until the deadline.
    bool exited = false;
    int status = 0;
    Clock::time_point drain_deadline;
    uint64_t owed_out = 0, owed_err = 0;
    bool closed_by_host = false;  // CLOSE arrived: killed, nothing more is sent
  };

  struct Conn {
    int id = 0;
    UniqueFd fd;
    bool serial = false;
    bool connected = true;  // serial: a host is attached
    bool ready = false;     // a HELLO was answered
    FrameDecoder decoder;
    uint32_t max_payload = kMaxPayloadLimit;
    uint32_t highest_channel = 0;
    uint32_t rr_cursor = 0;  // round-robin start among channels
    // Frames waiting to go out: control first, then DATA/EOF/EXIT in order.
    std::deque<std::string> control_q, data_q;
    size_t data_q_bytes = 0;
    // Bytes committed to the transport (whole frames), written from wire_pos.
    std::string wire;
    size_t wire_pos = 0;
    bool dropped_notice = false;  // logged "frames before HELLO" already
    std::map<uint32_t, std::unique_ptr<Exec>> execs;

    size_t Backlog() const { return data_q_bytes + (wire.size() - wire_pos); }
  };

  // What a pollfd entry stands for.
  struct Watch {
    enum Kind { kSignal, kListener, kConn, kExecOut, kExecErr, kExecIn } kind;
    int conn_id = 0;
    uint32_t channel = 0;
    size_t listener = 0;
  };

  // One loop turn: the poll set (returns the poll timeout), one event, and
  // the after-poll bookkeeping (drain deadlines, closed connections).
  int BuildWatches(std::vector<pollfd>* fds, std::vector<Watch>* watches);
  void Dispatch(const Watch& w, short revents);
  void Sweep();

  void Accept(int listen_fd);
  void ProbeSerial(Conn& c);
  void OnConnEvent(Conn& c, short revents);
  void ReadConn(Conn& c);
  void Flush(Conn& c);
  // A socket connection is closed and forgotten; the serial port is reset
  // and waits for the next host.
  void DropConn(Conn& c, const char* why);
  void ResetSession(Conn& c);

  void HandleFrame(Conn& c, Frame& f);
  void HandleHello(Conn& c, const Frame& f);
  void HandleOpen(Conn& c, const Frame& f);
  void HandleChannelFrame(Conn& c, Exec& e, Frame& f);
  void SendError(Conn& c, ErrorCode code, uint32_t channel, const std::string& message);

  void ReadOutput(Conn& c, Exec& e, bool err_stream);
  void WriteStdin(Conn& c, Exec& e);
  void ConsumeStdin(Conn& c, Exec& e, size_t n);
  void MaybeCloseStdin(Exec& e);
  void ReapChildren();
  void MaybeFinish(Conn& c, Exec& e);
  void KillExec(Exec& e);

  template <typename M>
  void QueueControl(Conn& c, uint32_t channel, const M& m, uint8_t flags = 0) {
    std::string frame;
    AppendMessage(&frame, channel, m, flags);
    c.control_q.push_back(std::move(frame));
  }
  void QueueData(Conn& c, std::string frame);

  Conn* FindConn(int id);
  Exec* FindExec(Conn& c, uint32_t channel);

  std::string build_;
  std::string boot_id_;
  UniqueFd signal_fd_;
  std::vector<UniqueFd> listeners_;
  std::map<int, std::unique_ptr<Conn>> conns_;
  int next_conn_id_ = 1;
  // Running commands by pid, for SIGCHLD.
  std::map<pid_t, std::pair<int, uint32_t>> pids_;
};

}  // namespace banger::agent
