#include "runtime/events.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "base/testing/temp_dir.h"
#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"

namespace banger::shim {
namespace {

using containerd::services::events::ttrpc::v1::Envelope;
using containerd::services::events::ttrpc::v1::ForwardRequest;

// containerd's side: an Events service recording what it is forwarded.
class FakeContainerd {
 public:
  explicit FakeContainerd(std::string path) : path_(std::move(path)) {}
  void Start() {
    server_ = std::make_unique<ttrpc::TtrpcServer>();
    Status registered = server_->RegisterTyped<ForwardRequest, google::protobuf::Empty>(
        "containerd.services.events.ttrpc.v1.Events", "Forward",
        [this](const ttrpc::CallContext& ctx,
               const ForwardRequest& r) -> ttrpc::RpcResult<google::protobuf::Empty> {
          std::lock_guard<std::mutex> g(mu_);
          got_.push_back(r.envelope());
          ns_.push_back(ctx.ns);
          return google::protobuf::Empty();
        });
    ASSERT_TRUE(registered.ok());
    auto l = ttrpc::UnixListener::Start(path_, server_.get());
    ASSERT_TRUE(l.ok()) << l.error().message();
    listener_ = std::move(*l);
  }
  void Stop() {
    if (listener_) listener_->Stop();
    listener_.reset();
    server_.reset();
  }
  ~FakeContainerd() { Stop(); }
  std::vector<Envelope> WaitFor(size_t n, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard<std::mutex> g(mu_);
        if (got_.size() >= n || std::chrono::steady_clock::now() > deadline) return got_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::vector<std::string> namespaces() {
    std::lock_guard<std::mutex> g(mu_);
    return ns_;
  }

 private:
  std::string path_;
  std::unique_ptr<ttrpc::TtrpcServer> server_;
  std::unique_ptr<ttrpc::UnixListener> listener_;
  std::mutex mu_;
  std::vector<Envelope> got_;
  std::vector<std::string> ns_;
};

containerd::events::TaskExit Exit(const std::string& id, uint32_t status) {
  containerd::events::TaskExit e;
  e.set_container_id(id);
  e.set_id(id);
  e.set_exit_status(status);
  return e;
}

TEST(EventPublisherTest, ForwardsEventsInOrderWithBareTypeNames) {
  banger::testing::TempDir dir("shimev");
  FakeContainerd ctrd(dir / "ttrpc.sock");
  ASSERT_NO_FATAL_FAILURE(ctrd.Start());
  EventPublisher pub(dir / "ttrpc.sock", "k8s.io");
  containerd::events::TaskStart start;
  start.set_container_id("c1");
  start.set_pid(42);
  pub.Publish("/tasks/start", start);
  pub.Publish("/tasks/exit", Exit("c1", 3));
  auto got = ctrd.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].topic(), "/tasks/start");
  EXPECT_EQ(got[0].event().type_url(), "containerd.events.TaskStart");
  EXPECT_EQ(got[0].namespace_(), "k8s.io");
  EXPECT_GT(got[0].timestamp().seconds(), 0);
  containerd::events::TaskStart back;
  ASSERT_TRUE(back.ParseFromString(got[0].event().value()));
  EXPECT_EQ(back.pid(), 42u);
  EXPECT_EQ(got[1].topic(), "/tasks/exit");
  EXPECT_EQ(got[1].event().type_url(), "containerd.events.TaskExit");
  EXPECT_EQ(ctrd.namespaces(), (std::vector<std::string>{"k8s.io", "k8s.io"}));
  pub.Flush(std::chrono::seconds(5));
  EXPECT_EQ(pub.sent(), 2u);
}

TEST(EventPublisherTest, AContainerdThatRestartsGetsTheEventsAfterwards) {
  banger::testing::TempDir dir("shimev");
  auto ctrd = std::make_unique<FakeContainerd>(dir / "ttrpc.sock");
  ASSERT_NO_FATAL_FAILURE(ctrd->Start());
  EventPublisher pub(dir / "ttrpc.sock", "default");
  pub.Publish("/tasks/exit", Exit("a", 1));
  ASSERT_EQ(ctrd->WaitFor(1).size(), 1u);
  ctrd.reset();  // containerd goes away...
  pub.Publish("/tasks/exit", Exit("b", 2));
  pub.Publish("/tasks/delete", Exit("c", 3));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ctrd = std::make_unique<FakeContainerd>(dir / "ttrpc.sock");  // ...and comes back
  ASSERT_NO_FATAL_FAILURE(ctrd->Start());
  auto got = ctrd->WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].topic(), "/tasks/exit");
  EXPECT_EQ(got[1].topic(), "/tasks/delete");
  EXPECT_EQ(pub.dropped(), 0u);
}

TEST(EventPublisherTest, TheQueueIsBounded) {
  banger::testing::TempDir dir("shimev");
  EventPublisher pub(dir / "nobody.sock", "default");  // nothing listens: the first event is retried
  for (size_t i = 0; i < EventPublisher::kMaxQueued + 10; ++i) pub.Publish("/tasks/exit", Exit("x", 0));
  // One is being retried, kMaxQueued wait; the oldest of the rest were dropped.
  EXPECT_GE(pub.dropped(), 9u);
  EXPECT_EQ(pub.sent(), 0u);
}

TEST(EventPublisherTest, NoAddressPublishesNothing) {
  EventPublisher pub("", "default");
  pub.Publish("/tasks/exit", Exit("x", 0));
  pub.Flush(std::chrono::seconds(1));
  EXPECT_EQ(pub.sent(), 0u);
  EXPECT_EQ(pub.dropped(), 0u);
}

}  // namespace
}  // namespace banger::shim
