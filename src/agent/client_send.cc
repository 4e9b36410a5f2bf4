// The agent connection's writer side: the bounded send queue, the writer
// thread that drains it with a deadline per frame, and what happens when
// the connection is lost (see client_core.h).
#include <sys/socket.h>

#include <mutex>
#include <string>

#include "agent/client_core.h"

namespace banger::agent_client {

Error LostError(const std::string& reason) {
  return Error::Unavailable(reason.empty() ? "agent connection lost" : "agent connection lost: " + reason);
}

Status Core::Send(std::string frame) {
  std::unique_lock<std::mutex> l(mu_);
  BANGER_RETURN_IF_ERROR(WaitForRoom(l, frame.size()));
  PushLocked(std::move(frame));
  return OkStatus();
}

bool Core::TrySend(std::string frame) {
  std::lock_guard<std::mutex> l(mu_);
  if (lost_ || (out_bytes_ > 0 && out_bytes_ + frame.size() > opts_.max_send_queue)) return false;
  PushLocked(std::move(frame));
  return true;
}

Status Core::OpenChannel(const std::shared_ptr<ChannelState>& ch, const agent::Open& open) {
  std::string payload = agent::Encode(open);
  if (payload.size() > max_payload_) {
    return Error::Invalid("the command line and environment take " + std::to_string(payload.size()) +
                          " bytes; at most " + std::to_string(max_payload_) + " fit in one request");
  }
  std::unique_lock<std::mutex> l(mu_);
  BANGER_RETURN_IF_ERROR(WaitForRoom(l, payload.size() + agent::kHeaderSize));
  ch->id = next_channel_;
  next_channel_ += 2;
  channels_[ch->id] = ch;
  std::string frame;
  agent::AppendFrame(&frame, agent::MsgType::kOpen, 0, ch->id, payload);
  PushLocked(std::move(frame));
  return OkStatus();
}

void Core::WriterLoop() {
  for (;;) {
    std::string frame;
    {
      std::unique_lock<std::mutex> l(mu_);
      out_cv_.wait(l, [&] { return lost_ || !outq_.empty(); });
      if (lost_) return;
      frame = std::move(outq_.front());
      outq_.pop_front();
    }
    Status st = agent_io::SendAllUntil(fd_.get(), frame, Clock::now() + opts_.send_timeout);
    {
      std::lock_guard<std::mutex> l(mu_);
      out_bytes_ -= frame.size();
      room_cv_.notify_all();
    }
    if (!st.ok()) {
      Fail(st.error().kind() == ErrorKind::kTimeout
               ? "the agent did not read its input for " + std::to_string(opts_.send_timeout.count()) + " ms"
               : st.error().message());
      return;
    }
  }
}

void Core::MarkLostLocked(const std::string& reason) {
  if (lost_) return;
  lost_ = true;
  lost_reason_ = reason;
  for (auto& [id, ch] : channels_) ch->cv.notify_all();
  ping_cv_.notify_all();
  out_cv_.notify_all();
  room_cv_.notify_all();
}

Status Core::WaitForRoom(std::unique_lock<std::mutex>& l, size_t size) {
  auto fits = [&] { return lost_ || out_bytes_ == 0 || out_bytes_ + size <= opts_.max_send_queue; };
  if (!room_cv_.wait_for(l, opts_.send_timeout, fits)) {
    std::string reason =
        "the agent did not read its input for " + std::to_string(opts_.send_timeout.count()) + " ms";
    MarkLostLocked(reason);
    ::shutdown(fd_.get(), SHUT_RDWR);
  }
  if (lost_) return LostError(lost_reason_);
  return OkStatus();
}

void Core::PushLocked(std::string frame) {
  out_bytes_ += frame.size();
  outq_.push_back(std::move(frame));
  out_cv_.notify_one();
}

}  // namespace banger::agent_client
