// EventLog: appends events to the store and wakes long-polling readers.
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "store/store.h"

namespace banger {

class EventLog {
 public:
  explicit EventLog(Store& store) : store_(store) {}
  // Best effort: a failure to record an event is logged, never fails the
  // operation that caused it.
  void Emit(Event ev);
  // Events after `after`; waits up to `wait` for at least one.
  Result<std::vector<Event>> Read(int64_t after, int limit, std::chrono::milliseconds wait);
  // Wakes all waiters and makes later reads return at once (daemon shutdown).
  void Close();
  // Events recorded since the daemon started (GET /metrics).
  uint64_t published();

 private:
  Store& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // Bumped on every Emit. Guarded by mu_.
  bool closed_ = false;      // Guarded by mu_.
};

}  // namespace banger
