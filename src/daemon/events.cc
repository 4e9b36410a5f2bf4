#include "daemon/events.h"

#include "base/log.h"

namespace banger {

void EventLog::Emit(Event ev) {
  auto r = store_.AppendEvent(ev);
  if (!r.ok()) {
    spdlog::warn("recording event {}: {}", ev.type, r.error().message());
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  ++generation_;
  cv_.notify_all();
}

uint64_t EventLog::published() {
  std::lock_guard<std::mutex> lk(mu_);
  return generation_;
}

void EventLog::Close() {
  std::lock_guard<std::mutex> lk(mu_);
  closed_ = true;
  cv_.notify_all();
}

Result<std::vector<Event>> EventLog::Read(int64_t after, int limit, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    uint64_t gen;
    bool closed;
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen = generation_;
      closed = closed_;
    }
    BANGER_ASSIGN_OR_RETURN(auto events, store_.EventsAfter(after, limit));
    if (!events.empty() || closed || std::chrono::steady_clock::now() >= deadline) return events;
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_until(lk, deadline, [&] { return generation_ != gen || closed_; })) return events;
  }
}

}  // namespace banger
