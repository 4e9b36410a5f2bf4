#include "runtime/events.h"

#include "base/log.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb.h"
#include "ttrpc/server.h"

namespace banger::shim {
namespace {

constexpr std::chrono::seconds kGiveUp{60};
constexpr std::chrono::seconds kCallTimeout{5};

}  // namespace

EventPublisher::EventPublisher(std::string address, std::string ns)
    : address_(std::move(address)), ns_(std::move(ns)) {
  thread_ = std::thread([this] { Loop(); });
}

EventPublisher::~EventPublisher() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventPublisher::Publish(const std::string& topic, const google::protobuf::Message& event) {
  Item item{topic, event.GetTypeName(), event.SerializeAsString(), std::chrono::system_clock::now()};
  {
    std::lock_guard<std::mutex> g(mu_);
    if (address_.empty()) return;
    if (queue_.size() >= kMaxQueued) {
      spdlog::warn("events: queue full, dropping {}", queue_.front().topic);
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(std::move(item));
  }
  cv_.notify_all();
}

void EventPublisher::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [this] { return queue_.empty() && !busy_; });
}

size_t EventPublisher::sent() const {
  std::lock_guard<std::mutex> g(mu_);
  return sent_;
}

size_t EventPublisher::dropped() const {
  std::lock_guard<std::mutex> g(mu_);
  return dropped_;
}

bool EventPublisher::Send(const Item& item) {
  if (!client_ || !client_->connected()) {
    client_.reset();
    auto c = ttrpc::TtrpcClient::Connect(address_, kCallTimeout);
    if (!c.ok()) return false;
    client_ = std::move(*c);
  }
  containerd::services::events::ttrpc::v1::ForwardRequest req;
  auto* env = req.mutable_envelope();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(item.at.time_since_epoch()).count();
  env->mutable_timestamp()->set_seconds(ns / 1000000000);
  env->mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  env->set_namespace_(ns_);
  env->set_topic(item.topic);
  env->mutable_event()->set_type_url(item.type);
  env->mutable_event()->set_value(item.payload);
  std::string bytes;
  req.SerializeToString(&bytes);
  auto r = client_->Call("containerd.services.events.ttrpc.v1.Events", "Forward", bytes,
                         {{std::string(ttrpc::kNamespaceKey), ns_}}, ttrpc::Clock::now() + kCallTimeout);
  if (!r.ok()) {
    spdlog::warn("events: forwarding {}: {}", item.topic, r.status().message);
    if (r.status().code == ttrpc::Code::kUnavailable || r.status().code == ttrpc::Code::kDeadlineExceeded)
      client_.reset();
    return r.status().code != ttrpc::Code::kUnavailable && r.status().code != ttrpc::Code::kDeadlineExceeded;
  }
  return true;
}

void EventPublisher::Loop() {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;  // what is left is dropped (Flush drains first)
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    const auto give_up = std::chrono::steady_clock::now() + kGiveUp;
    bool ok = false;
    for (;;) {
      ok = Send(item);
      if (ok || std::chrono::steady_clock::now() >= give_up) break;
      std::unique_lock<std::mutex> lk(mu_);
      if (cv_.wait_for(lk, std::chrono::milliseconds(500), [this] { return stop_; })) break;
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      busy_ = false;
      if (ok) {
        ++sent_;
      } else {
        ++dropped_;
        spdlog::warn("events: dropped {} (containerd did not take it)", item.topic);
      }
    }
    cv_.notify_all();
  }
}

}  // namespace banger::shim
