// Publishes the task's events to containerd (shim v2): each is a
// containerd.services.events.ttrpc.v1.Events/Forward call on
// $TTRPC_ADDRESS carrying an Envelope (timestamp, namespace, topic, and the
// event as an Any whose type URL is the bare message name, e.g.
// "containerd.events.TaskExit", as containerd's typeurl registry expects).
//
// Events go out in order from one thread. The queue is bounded (1024; when
// full the oldest is dropped, with a warning); a containerd that is away
// (restarting) is reconnected to, and an event it will not take within a
// minute is dropped. Nothing here blocks a caller.
#pragma once

#include <google/protobuf/message.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ttrpc/client.h"

namespace banger::shim {

class EventPublisher {
 public:
  // `address`: containerd's ttrpc socket ("" = publish nothing).
  EventPublisher(std::string address, std::string ns);
  ~EventPublisher();
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // Queues `event` under `topic` ("/tasks/exit").
  void Publish(const std::string& topic, const google::protobuf::Message& event);
  // Waits up to `timeout` for the queue to drain (before the shim exits).
  void Flush(std::chrono::milliseconds timeout);
  // Events sent, and dropped, so far (tests, logs).
  size_t sent() const;
  size_t dropped() const;

  static constexpr size_t kMaxQueued = 1024;

 private:
  struct Item {
    std::string topic, type, payload;
    std::chrono::system_clock::time_point at;
  };
  void Loop();
  bool Send(const Item& item);

  const std::string address_, ns_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool busy_ = false;
  bool stop_ = false;
  size_t sent_ = 0, dropped_ = 0;
  std::unique_ptr<ttrpc::TtrpcClient> client_;  // the loop's only
  std::thread thread_;
};

}  // namespace banger::shim
