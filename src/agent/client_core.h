// The agent client's connection core, shared by its translation units:
// the reader thread's demultiplexing (client.cc) and the writer thread with
// its bounded send queue (client_send.cc). Internal to banger_agent_client.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/client.h"
#include "agent/client_io.h"
#include "agent/protocol.h"

namespace banger::agent_client {

using agent_io::Clock;

// Next() hands out at most this much merged output per event.
inline constexpr size_t kMaxEventBytes = 256 * 1024;

Error LostError(const std::string& reason);

// One channel's state, shared by the reader thread and its ExecChannel.
// Guarded by Core::mu_.
struct ChannelState {
  uint32_t id = 0;
  std::string argv0;
  std::condition_variable cv;
  bool opened = false;
  std::optional<Error> failure;  // OPEN_FAIL, an ERROR naming this channel, or Abort
  std::deque<ExecEvent> events;
  bool exit_received = false;
  bool exit_delivered = false;
  bool close_sent = false;
  bool fin = false;  // EXIT or OPEN_FAIL arrived: nothing may follow
  // Output credit the agent still holds, and consumed bytes not yet returned.
  uint64_t recv_credit = agent::kDefaultHostWindow;
  uint64_t unacked = 0;
  // Stdin credit the agent granted and we have not used.
  uint64_t stdin_credit = 0;
  bool stdin_closed = false;
  bool stdout_eof = false;  // the guest's EOF of stdout was queued
};

// The connection: the fd, the reader thread's demultiplexing, the writer
// thread's bounded send queue, and the channels. Shared by AgentConn and
// every ExecChannel, which may outlive it.
//
// The reader thread never writes: what it must answer (PONG, ERROR) goes
// into the send queue only if there is room, else it is dropped. Only the
// writer thread touches the socket for writing, with a deadline per frame.
class Core {
 public:
  Core(UniqueFd fd, agent::FrameDecoder decoder, uint32_t max_payload, AgentConnOptions opts)
      : fd_(std::move(fd)), decoder_(std::move(decoder)), max_payload_(max_payload), opts_(std::move(opts)) {
    if (!opts_.log_limiter) opts_.log_limiter = std::make_shared<GuestLogLimiter>();
  }

  uint32_t max_data() const { return std::min<uint32_t>(agent::kMaxDataChunk, max_payload_ - 1); }
  const AgentConnOptions& opts() const { return opts_; }

  // Queues a whole frame for the writer thread, waiting at most
  // send_timeout for room; a guest that does not drain in that time loses
  // the connection.
  Status Send(std::string frame);

  // For the reader thread: queues the frame if there is room now, else
  // drops it (a guest that does not read gets no answers).
  bool TrySend(std::string frame);

  // Registers a new channel and queues its OPEN under one lock, so ids
  // reach the agent in increasing order even with concurrent Exec calls (the
  // agent rejects an id not above every earlier one).
  Status OpenChannel(const std::shared_ptr<ChannelState>& ch, const agent::Open& open);

  template <typename M>
  Status SendMessage(uint32_t channel, const M& m, uint8_t flags = 0) {
    std::string frame;
    agent::AppendMessage(&frame, channel, m, flags);
    return Send(std::move(frame));
  }

  void MarkLost(const std::string& reason) {
    std::lock_guard<std::mutex> l(mu_);
    MarkLostLocked(reason);
  }

  // Drops the connection: marks it lost and wakes both threads.
  void Fail(const std::string& reason) {
    MarkLost(reason);
    Shutdown();
  }

  // A guest that broke the protocol loses its connection (a reconnect
  // starts clean); the daemon's threads carry on.
  bool Violation(const std::string& what) {
    opts_.log_limiter->Warn(opts_.label, "agent protocol violation: " + what + "; dropping the connection");
    Fail("protocol violation: " + what);
    return false;
  }

  // Wakes the reader thread (read returns 0) and the writer (send fails).
  void Shutdown() { ::shutdown(fd_.get(), SHUT_RDWR); }

  // The reader thread (client.cc).
  void ReaderLoop();
  // The writer thread (client_send.cc).
  void WriterLoop();

  // Everything below is guarded by mu_.
  std::mutex mu_;
  bool lost_ = false;
  std::string lost_reason_;
  std::map<uint32_t, std::shared_ptr<ChannelState>> channels_;
  uint32_t next_channel_ = 1;       // odd, never reused
  std::map<uint64_t, bool> pings_;  // ping id -> answered
  uint64_t next_ping_ = 1;
  std::condition_variable ping_cv_;

 private:
  void MarkLostLocked(const std::string& reason);

  // Waits (mu_ held through l) until `size` more bytes fit in the send
  // queue; an empty queue takes any frame.
  Status WaitForRoom(std::unique_lock<std::mutex>& l, size_t size);

  void PushLocked(std::string frame);

  // Handles one frame from the agent; false ends the reader.
  bool Dispatch(const agent::Frame& f);
  bool OnChannelFrame(const agent::Frame& f);

  UniqueFd fd_;
  agent::FrameDecoder decoder_;  // only the reader thread touches it
  uint32_t max_payload_;
  AgentConnOptions opts_;
  // The send queue (guarded by mu_): frames for the writer thread, and the
  // bytes queued or being written.
  std::deque<std::string> outq_;
  size_t out_bytes_ = 0;
  std::condition_variable out_cv_;   // the writer waits for frames
  std::condition_variable room_cv_;  // senders wait for room
};

}  // namespace banger::agent_client
