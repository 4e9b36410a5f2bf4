// TtrpcClient against the real server and against a scripted raw peer; and
// containerd's event envelope as the shim will forward it.
#include "ttrpc/client.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb.h"
#include "ttrpc/test_util.h"

namespace banger::ttrpc {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace)
namespace events = containerd::services::events::ttrpc::v1;

constexpr char kEvents[] = "containerd.services.events.ttrpc.v1.Events";

// A client on one end of a socketpair; the test plays the server on the
// other (server_end) with raw frames. client is null if the setup failed.
struct RawPeer {
  static RawPeer Make(ClientOptions options = {}) {
    RawPeer p;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return p;
    p.server_end = UniqueFd(sv[0]);
    auto c = TtrpcClient::Adopt(UniqueFd(sv[1]), std::move(options));
    if (c.ok()) p.client = std::move(*c);
    return p;
  }
  UniqueFd server_end;
  std::unique_ptr<TtrpcClient> client;
};

TEST(TtrpcClientTest, DeadlineWhenTheHandlerNeverAnswers) {
  Served s;
  ASSERT_TRUE(s.server
                  .Register("svc", "Never",
                            [](const CallContext& ctx, const std::string&) -> RpcResult<std::string> {
                              ctx.cancel->WaitFor(30s);  // until the connection ends
                              return std::string();
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  auto t0 = Clock::now();
  auto r = c->Call("svc", "Never", "", {}, In(300ms));
  auto took = Clock::now() - t0;
  EXPECT_EQ(r.code(), Code::kDeadlineExceeded);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(c->connected());  // a timed-out call does not end the connection
  EXPECT_EQ(c->Call("svc", "Other", "", {}, In(5s)).code(), Code::kUnimplemented);
  EXPECT_EQ(c->Call("svc", "Never", "", {}, Clock::now() - 1ms).code(), Code::kDeadlineExceeded);
}

TEST(TtrpcClientTest, ManyConcurrentCallsOnOneConnection) {
  Served s;
  ASSERT_TRUE(s.server
                  .Register("svc", "Echo",
                            [](const CallContext&, const std::string& p) -> RpcResult<std::string> {
                              std::this_thread::sleep_for(std::chrono::milliseconds(p.size() % 7));
                              return p;
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  std::vector<std::future<RpcResult<std::string>>> calls;
  for (int i = 0; i < 40; ++i) {
    calls.push_back(std::async(std::launch::async, [&, i] {
      return c->Call("svc", "Echo", "call-" + std::to_string(i), {}, In(10s));
    }));
  }
  for (int i = 0; i < 40; ++i) {
    auto r = calls[i].get();
    ASSERT_TRUE(r.ok()) << r.status().message;
    EXPECT_EQ(*r, "call-" + std::to_string(i));
  }
}

TEST(TtrpcClientTest, StreamIdsAreOddAndIncreaseAndTheTimeoutIsSent) {
  RawPeer p = RawPeer::Make();
  ASSERT_TRUE(p.client);
  TtrpcClient* c = p.client.get();
  UniqueFd& server_end = p.server_end;
  FrameDecoder d;
  for (uint32_t want : {1u, 3u, 5u}) {
    auto call = std::async(std::launch::async, [&] { return c->Call("s", "m", "p", {{"k", "v"}}, In(5s)); });
    auto f = ReadFrame(server_end.get(), &d, 5s);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->header.stream_id, want);
    EXPECT_EQ(f->header.type, 1);
    ::ttrpc::Request req;
    ASSERT_TRUE(req.ParseFromString(f->payload));
    EXPECT_EQ(req.service(), "s");
    EXPECT_EQ(req.method(), "m");
    EXPECT_EQ(req.payload(), "p");
    EXPECT_GT(req.timeout_nano(), 0);
    EXPECT_LE(req.timeout_nano(), 5'000'000'000);
    ASSERT_EQ(req.metadata_size(), 1);
    EXPECT_EQ(req.metadata(0).key(), "k");
    ::ttrpc::Response resp;
    resp.set_payload("r" + std::to_string(want));
    // A stray response for an id nobody waits on first: dropped.
    WriteRaw(server_end.get(),
             RawFrame(want + 100, 2, resp.SerializeAsString()) + RawFrame(want, 2, resp.SerializeAsString()));
    auto r = call.get();
    ASSERT_TRUE(r.ok()) << r.status().message;
    EXPECT_EQ(*r, "r" + std::to_string(want));
  }
}

TEST(TtrpcClientTest, AServerThatClosesFailsWaitingCallsWithUnavailable) {
  RawPeer p = RawPeer::Make();
  ASSERT_TRUE(p.client);
  TtrpcClient* c = p.client.get();
  UniqueFd& server_end = p.server_end;
  auto call = std::async(std::launch::async, [&] { return c->Call("s", "m", "", {}, In(10s)); });
  FrameDecoder d;
  ASSERT_TRUE(ReadFrame(server_end.get(), &d, 5s).has_value());
  auto t0 = Clock::now();
  server_end.Reset();
  auto r = call.get();
  EXPECT_EQ(r.code(), Code::kUnavailable);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_FALSE(c->connected());
  EXPECT_EQ(c->Call("s", "m", "", {}, In(1s)).code(), Code::kUnavailable);
}

TEST(TtrpcClientTest, AnOversizeResponseEndsTheConnection) {
  ClientOptions o;
  o.max_payload = 64;
  RawPeer p = RawPeer::Make(o);
  ASSERT_TRUE(p.client);
  TtrpcClient* c = p.client.get();
  UniqueFd& server_end = p.server_end;
  auto call = std::async(std::launch::async, [&] { return c->Call("s", "m", "", {}, In(10s)); });
  FrameDecoder d;
  ASSERT_TRUE(ReadFrame(server_end.get(), &d, 5s).has_value());
  WriteRaw(server_end.get(), RawFrame(1, 2, std::string(65, 'x')));
  auto r = call.get();
  EXPECT_EQ(r.code(), Code::kUnavailable);
  EXPECT_NE(r.status().message.find("over the limit"), std::string::npos);
}

TEST(TtrpcClientTest, AResponseThatIsNotAResponseIsInternal) {
  RawPeer p = RawPeer::Make();
  ASSERT_TRUE(p.client);
  TtrpcClient* c = p.client.get();
  UniqueFd& server_end = p.server_end;
  auto call = std::async(std::launch::async, [&] { return c->Call("s", "m", "", {}, In(10s)); });
  FrameDecoder d;
  ASSERT_TRUE(ReadFrame(server_end.get(), &d, 5s).has_value());
  WriteRaw(server_end.get(), RawFrame(1, 2, std::string("\x0a\x7f", 2)));
  EXPECT_EQ(call.get().code(), Code::kInternal);
}

TEST(TtrpcClientTest, RequestOverTheLimitIsRefusedLocally) {
  Served s;
  s.Start();
  ClientOptions o;
  o.max_payload = 128;
  auto c = s.Client(o);
  EXPECT_EQ(c->Call("s", "m", std::string(200, 'x'), {}, In(5s)).code(), Code::kResourceExhausted);
  EXPECT_TRUE(c->connected());
}

TEST(TtrpcClientTest, MaxPendingCalls) {
  ClientOptions o;
  o.max_pending = 1;
  RawPeer p = RawPeer::Make(o);
  ASSERT_TRUE(p.client);
  TtrpcClient* c = p.client.get();
  UniqueFd& server_end = p.server_end;
  auto first = std::async(std::launch::async, [&] { return c->Call("s", "m", "", {}, In(3s)); });
  FrameDecoder d;
  ASSERT_TRUE(ReadFrame(server_end.get(), &d, 5s).has_value());
  EXPECT_EQ(c->Call("s", "m", "", {}, In(3s)).code(), Code::kResourceExhausted);
  c->Close();
  EXPECT_EQ(first.get().code(), Code::kUnavailable);
}

TEST(TtrpcClientTest, ConnectToANonexistentSocket) {
  auto c = TtrpcClient::Connect("/nonexistent/banger-ttrpc.sock", 1s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
}

// The shim forwards events to containerd as Events/Forward: an Envelope whose
// Any names the event by its bare message name (no type.googleapis.com/).
TEST(TtrpcClientTest, ForwardsAnEnvelopeWithATaskExit) {
  Served s;
  events::ForwardRequest got;
  using Empty = google::protobuf::Empty;
  auto forward = [&](const CallContext&, const events::ForwardRequest& req) -> RpcResult<Empty> {
    got = req;
    return Empty();
  };
  ASSERT_TRUE((s.server.RegisterTyped<events::ForwardRequest, Empty>(kEvents, "Forward", forward).ok()));
  s.Start();
  containerd::events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_id("c1");
  exit.set_pid(77);
  exit.set_exit_status(137);
  exit.mutable_exited_at()->set_seconds(1700000000);
  events::ForwardRequest req;
  auto* env = req.mutable_envelope();
  env->set_namespace_("default");
  env->set_topic("/tasks/exit");
  env->mutable_timestamp()->set_seconds(1700000001);
  env->mutable_event()->set_type_url("containerd.events.TaskExit");
  env->mutable_event()->set_value(exit.SerializeAsString());
  auto r = s.Client()->CallTyped<google::protobuf::Empty>(kEvents, "Forward", req, {}, In(5s));
  ASSERT_TRUE(r.ok()) << r.status().message;

  // What containerd would decode from the wire.
  const auto& e = got.envelope();
  EXPECT_EQ(e.namespace_(), "default");
  EXPECT_EQ(e.topic(), "/tasks/exit");
  EXPECT_EQ(e.timestamp().seconds(), 1700000001);
  EXPECT_EQ(e.event().type_url(), "containerd.events.TaskExit");
  EXPECT_EQ(exit.GetDescriptor()->full_name(), e.event().type_url());
  containerd::events::TaskExit back;
  ASSERT_TRUE(back.ParseFromString(e.event().value()));
  EXPECT_EQ(back.pid(), 77u);
  EXPECT_EQ(back.exit_status(), 137u);
  EXPECT_EQ(back.exited_at().seconds(), 1700000000);
}

}  // namespace
}  // namespace banger::ttrpc
