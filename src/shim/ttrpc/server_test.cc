// TtrpcServer over a socketpair: real containerd messages through the typed
// helpers, concurrency, the in-flight bound, and a hostile peer's frames.
#include "ttrpc/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"
#include "ttrpc/test_util.h"

namespace banger::ttrpc {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace)
namespace task = containerd::task::v2;

constexpr char kTask[] = "containerd.task.v2.Task";

// A one-shot latch with a deadline on every wait.
class Latch {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

Status RegisterState(TtrpcServer* s) {
  return s->RegisterTyped<task::StateRequest, task::StateResponse>(
      kTask, "State",
      [](const CallContext& ctx, const task::StateRequest& req) -> RpcResult<task::StateResponse> {
        if (req.id() == "missing") return Error::NotFound("container missing");
        task::StateResponse r;
        r.set_id(req.id());
        r.set_pid(4242);
        r.set_status(containerd::v1::types::RUNNING);
        r.set_bundle("/run/banger/" + ctx.ns + "/" + req.id());
        return r;
      });
}

TEST(TtrpcServerTest, StateRoundTripWithARealContainerdMessage) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  auto c = s.Client();
  task::StateRequest req;
  req.set_id("web");
  auto r = c->CallTyped<task::StateResponse>(kTask, "State", req, {{std::string(kNamespaceKey), "default"}},
                                             In(5s));
  ASSERT_TRUE(r.ok()) << r.status().message;
  EXPECT_EQ(r->id(), "web");
  EXPECT_EQ(r->pid(), 4242u);
  EXPECT_EQ(r->status(), containerd::v1::types::RUNNING);
  EXPECT_EQ(r->bundle(), "/run/banger/default/web");
}

TEST(TtrpcServerTest, HandlerErrorsKeepTheirCode) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  ASSERT_TRUE(s.server
                  .Register(kTask, "Delete",
                            [](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              return RpcStatus{Code::kFailedPrecondition, "task is running"};
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  task::StateRequest req;
  req.set_id("missing");
  auto r = c->CallTyped<task::StateResponse>(kTask, "State", req, {}, In(5s));
  EXPECT_EQ(r.code(), Code::kNotFound);
  EXPECT_EQ(r.status().message, "container missing");
  auto d = c->Call(kTask, "Delete", "", {}, In(5s));
  EXPECT_EQ(d.code(), Code::kFailedPrecondition);
  EXPECT_EQ(d.status().message, "task is running");
}

TEST(TtrpcServerTest, UnknownServiceOrMethodIsUnimplemented) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  auto c = s.Client();
  auto r = c->Call(kTask, "Checkpoint", "", {}, In(5s));
  EXPECT_EQ(r.code(), Code::kUnimplemented);
  EXPECT_NE(r.status().message.find("Checkpoint"), std::string::npos);
  EXPECT_EQ(c->Call("no.Such", "State", "", {}, In(5s)).code(), Code::kUnimplemented);
  // The connection is still good.
  EXPECT_TRUE(c->CallTyped<task::StateResponse>(kTask, "State", task::StateRequest(), {}, In(5s)).ok());
}

TEST(TtrpcServerTest, DuplicateRegistrationIsAConflict) {
  TtrpcServer s;
  ASSERT_TRUE(RegisterState(&s).ok());
  auto again = RegisterState(&s);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kConflict);
  EXPECT_FALSE(s.Register("a", "b", nullptr).ok());
}

TEST(TtrpcServerTest, TypedHandlerRefusesAPayloadThatIsNotItsMessage) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  auto c = s.Client();
  auto r = c->Call(kTask, "State", std::string("\xff\xff\xff", 3), {}, In(5s));
  EXPECT_EQ(r.code(), Code::kInvalidArgument);
}

// Found by fuzz_ttrpc: a status message quoting the peer's bytes was not
// UTF-8, so libprotobuf refused to parse the Response on the other side.
TEST(TtrpcServerTest, StatusMessagesAreMadeUtf8) {
  Served s;
  ASSERT_TRUE(s.server
                  .Register("svc", "Fail",
                            [](const CallContext&, const std::string& p) -> RpcResult<std::string> {
                              return RpcStatus{Code::kNotFound, "no " + p};
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  auto r = c->Call("svc", "Fail", std::string("n\xbc\xbco"), {}, In(5s));
  EXPECT_EQ(r.code(), Code::kNotFound);
  EXPECT_EQ(r.status().message, "no n??o");
  EXPECT_EQ(c->Call("svc\xff", "Fail", "", {}, In(5s)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(c->connected());
}

TEST(TtrpcServerTest, AHandlerThatThrowsIsInternal) {
  Served s;
  ASSERT_TRUE(s.server
                  .Register("svc", "Boom",
                            [](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              throw std::runtime_error("kaput");
                            })
                  .ok());
  s.Start();
  auto r = s.Client()->Call("svc", "Boom", "", {}, In(5s));
  EXPECT_EQ(r.code(), Code::kInternal);
  EXPECT_NE(r.status().message.find("kaput"), std::string::npos);
}

// containerd's `ctr run` sends Wait before Start; Wait blocks until the task
// exits. Here the first call blocks until the second has run.
TEST(TtrpcServerTest, ABlockedCallDoesNotHoldUpTheNext) {
  Served s;
  Latch started;
  ASSERT_TRUE(s.server
                  .Register(kTask, "Wait",
                            [&](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              if (!started.Wait(5s)) return RpcStatus{Code::kInternal, "Start never ran"};
                              return std::string("exited");
                            })
                  .ok());
  ASSERT_TRUE(s.server
                  .Register(kTask, "Start",
                            [&](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              started.Open();
                              return std::string("started");
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  auto wait = std::async(std::launch::async, [&] { return c->Call(kTask, "Wait", "", {}, In(10s)); });
  // Give Wait a head start so it is in flight first.
  std::this_thread::sleep_for(50ms);
  auto start = c->Call(kTask, "Start", "", {}, In(5s));
  ASSERT_TRUE(start.ok()) << start.status().message;
  EXPECT_EQ(*start, "started");
  ASSERT_EQ(wait.wait_for(5s), std::future_status::ready);
  auto w = wait.get();
  ASSERT_TRUE(w.ok()) << w.status().message;
  EXPECT_EQ(*w, "exited");
}

TEST(TtrpcServerTest, TheNamespaceAndMetadataReachTheHandler) {
  Served s;
  CallContext seen;
  ASSERT_TRUE(s.server
                  .Register(kTask, "Connect",
                            [&](const CallContext& ctx, const std::string&) -> RpcResult<std::string> {
                              seen = ctx;
                              return std::string();
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  auto r = c->Call(kTask, "Connect", "", {{"x-other", "1"}, {std::string(kNamespaceKey), "k8s.io"}}, In(5s));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen.ns, "k8s.io");
  EXPECT_EQ(seen.Get("x-other"), "1");
  EXPECT_EQ(seen.Get("absent"), std::nullopt);
  EXPECT_EQ(seen.service, kTask);
  EXPECT_EQ(seen.method, "Connect");
  EXPECT_EQ(seen.stream_id % 2, 1u);
  ASSERT_TRUE(seen.deadline.has_value());
  EXPECT_LE(*seen.deadline, In(5s));
}

TEST(TtrpcServerTest, InFlightBoundAnswersResourceExhausted) {
  ServerOptions o;
  o.max_in_flight = 2;
  Served s(o);
  Latch release;
  std::atomic<int> running{0};
  ASSERT_TRUE(s.server
                  .Register("svc", "Block",
                            [&](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              ++running;
                              release.Wait(10s);
                              return std::string("done");
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  auto a = std::async(std::launch::async, [&] { return c->Call("svc", "Block", "", {}, In(10s)); });
  auto b = std::async(std::launch::async, [&] { return c->Call("svc", "Block", "", {}, In(10s)); });
  for (int i = 0; i < 500 && running < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(running, 2);
  auto third = c->Call("svc", "Block", "", {}, In(5s));
  EXPECT_EQ(third.code(), Code::kResourceExhausted);
  release.Open();
  EXPECT_TRUE(a.get().ok());
  EXPECT_TRUE(b.get().ok());
  // Room again.
  EXPECT_TRUE(c->Call("svc", "Block", "", {}, In(5s)).ok());
}

TEST(TtrpcServerTest, ShutdownCancelsRunningCallsAndEndsServe) {
  Served s;
  std::atomic<bool> saw_cancel{false};
  Latch entered;
  ASSERT_TRUE(s.server
                  .Register("svc", "Wait",
                            [&](const CallContext& ctx, const std::string&) -> RpcResult<std::string> {
                              entered.Open();
                              saw_cancel = ctx.cancel->WaitFor(10s);
                              return RpcStatus{Code::kCancelled, "shutting down"};
                            })
                  .ok());
  s.Start();
  auto c = s.Client();
  auto w = std::async(std::launch::async, [&] { return c->Call("svc", "Wait", "", {}, In(10s)); });
  ASSERT_TRUE(entered.Wait(5s));
  auto t0 = Clock::now();
  s.server.Shutdown();
  auto st = s.WaitServed(5s);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->ok());
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_TRUE(saw_cancel);
  // The drained handler's answer still went out before the close.
  auto r = w.get();
  EXPECT_EQ(r.code(), Code::kCancelled);
  EXPECT_EQ(s.server.connections(), 0u);
  // A later Serve is refused.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd other(sv[1]);
  EXPECT_FALSE(s.server.Serve(UniqueFd(sv[0])).ok());
}

// --- a hostile peer, raw frames -------------------------------------------

TEST(TtrpcServerHostileTest, OversizeFrameIsAnsweredThenTheConnectionCloses) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  std::string h(kHeaderSize, '\0');
  EncodeHeader({.length = kMaxPayload + 1, .stream_id = 5, .type = 1}, h.data());
  WriteRaw(s.peer.get(), h + "some of the payload");
  FrameDecoder d;
  auto f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.stream_id, 5u);
  EXPECT_EQ(f->header.type, 2);
  EXPECT_EQ(ParseResponse(*f).first, Code::kResourceExhausted);
  bool eof = false;
  EXPECT_FALSE(ReadFrame(s.peer.get(), &d, 5s, &eof).has_value());
  EXPECT_TRUE(eof);
  auto st = s.WaitServed(5s);
  ASSERT_TRUE(st.has_value());
  EXPECT_FALSE(st->ok());
}

TEST(TtrpcServerHostileTest, GarbageBytesCloseTheConnection) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  WriteRaw(s.peer.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  FrameDecoder d;
  bool eof = false;
  // "GET " is a length of 0x47455420: over the limit, and an even stream id,
  // so no answer, just the close.
  EXPECT_FALSE(ReadFrame(s.peer.get(), &d, 5s, &eof).has_value());
  EXPECT_TRUE(eof);
  ASSERT_TRUE(s.WaitServed(5s).has_value());
}

TEST(TtrpcServerHostileTest, EvenStreamIdIsInvalidArgumentAndTheConnectionStays) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  WriteRaw(s.peer.get(), RawFrame(2, 1, RequestBytes(kTask, "State", "")));
  FrameDecoder d;
  auto f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.stream_id, 2u);
  EXPECT_EQ(ParseResponse(*f).first, Code::kInvalidArgument);
  WriteRaw(s.peer.get(), RawFrame(3, 1, RequestBytes(kTask, "State", "")));
  f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.stream_id, 3u);
  EXPECT_EQ(ParseResponse(*f).first, Code::kOk);
}

TEST(TtrpcServerHostileTest, OtherFrameTypesAreIgnored) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  // A response, an unknown type, type 0: all read and dropped.
  WriteRaw(s.peer.get(), RawFrame(1, 2, "x") + RawFrame(3, 0x7f, RequestBytes(kTask, "State", "")) +
                             RawFrame(5, 0, "") + RawFrame(7, 1, RequestBytes(kTask, "State", "")));
  FrameDecoder d;
  auto f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.stream_id, 7u);
  EXPECT_EQ(ParseResponse(*f).first, Code::kOk);
}

TEST(TtrpcServerHostileTest, GarbageProtobufIsInvalidArgument) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  // Field 1 as a length-delimited string that runs past the end.
  WriteRaw(s.peer.get(), RawFrame(1, 1,
                                  std::string("\x0a\x7f"
                                              "abc",
                                              5)));
  FrameDecoder d;
  auto f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.stream_id, 1u);
  EXPECT_EQ(ParseResponse(*f).first, Code::kInvalidArgument);
}

TEST(TtrpcServerHostileTest, AStreamIdAlreadyInFlightIsRefused) {
  Served s;
  Latch release;
  ASSERT_TRUE(s.server
                  .Register("svc", "Block",
                            [&](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              release.Wait(10s);
                              return std::string("done");
                            })
                  .ok());
  s.Start();
  WriteRaw(s.peer.get(), RawFrame(9, 1, RequestBytes("svc", "Block", "")));
  std::this_thread::sleep_for(50ms);
  WriteRaw(s.peer.get(), RawFrame(9, 1, RequestBytes("svc", "Block", "")));
  FrameDecoder d;
  auto f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(ParseResponse(*f).first, Code::kInvalidArgument);
  release.Open();
  f = ReadFrame(s.peer.get(), &d, 5s);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(ParseResponse(*f), std::make_pair(Code::kOk, std::string("done")));
}

TEST(TtrpcServerHostileTest, AHostileTimeoutIsNoDeadline) {
  Served s;
  std::optional<Clock::time_point> seen = Clock::now();
  ASSERT_TRUE(s.server
                  .Register("svc", "M",
                            [&](const CallContext& ctx, const std::string&) -> RpcResult<std::string> {
                              seen = ctx.deadline;
                              return std::string();
                            })
                  .ok());
  s.Start();
  ::ttrpc::Request req;
  req.set_service("svc");
  req.set_method("M");
  req.set_timeout_nano(INT64_MAX);
  WriteRaw(s.peer.get(), RawFrame(1, 1, req.SerializeAsString()));
  FrameDecoder d;
  ASSERT_TRUE(ReadFrame(s.peer.get(), &d, 5s).has_value());
  EXPECT_FALSE(seen.has_value());
}

TEST(TtrpcServerHostileTest, APeerThatDoesNotReadLosesTheConnection) {
  ServerOptions o;
  o.write_timeout = 200ms;
  Served s(o);
  ASSERT_TRUE(s.server
                  .Register("svc", "Big",
                            [](const CallContext&, const std::string&) -> RpcResult<std::string> {
                              return std::string(1 << 20, 'b');
                            })
                  .ok());
  s.Start();
  // Two 1 MiB answers do not fit in the socket's buffers; nobody reads them.
  WriteRaw(s.peer.get(),
           RawFrame(1, 1, RequestBytes("svc", "Big", "")) + RawFrame(3, 1, RequestBytes("svc", "Big", "")));
  auto st = s.WaitServed(5s);
  ASSERT_TRUE(st.has_value());
  ASSERT_FALSE(st->ok());
  EXPECT_NE(st->error().message().find("does not read"), std::string::npos) << st->error().message();
}

TEST(TtrpcServerHostileTest, APeerThatHangsUpMidFrame) {
  Served s;
  ASSERT_TRUE(RegisterState(&s.server).ok());
  s.Start();
  std::string frame = RawFrame(1, 1, RequestBytes(kTask, "State", ""));
  WriteRaw(s.peer.get(), frame.substr(0, frame.size() - 3));
  s.peer.Reset();
  auto st = s.WaitServed(5s);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->ok());
}

}  // namespace
}  // namespace banger::ttrpc
