// The WebSocket streams against a real daemon and guest (docs/api.md
// "Streams"): the console and event follow streams, and a client that never
// reads its exec's output, dropped after ws_write_timeout while another
// client's exec on the same daemon goes on.
#include <gtest/gtest.h>

#include "api/stream.h"
#include "e2e_util.h"
#include "http/ws.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<WsConn> Open(BangerHome& h, const std::string& target) {
  auto d = WsDialUnix(h.root() + "/bangerd.sock", target, {}, 30s);
  EXPECT_TRUE(d.ok()) << d.error().message();
  if (!d.ok()) return nullptr;
  EXPECT_EQ(d->status, 101) << target << ": " << d->response_body;
  return std::move(d->conn);
}

TEST(WsE2E, FollowStreamsAndANeverReadingClient) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(
      "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"5s\"\ndefault_image_name = \"t\"\n"
      "ws_write_timeout = \"2s\"\n"
      "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\n"));
  ASSERT_NO_FATAL_FAILURE(h.BuildAgentImage("t"));
  // The event stream from the start: the VM's creation comes as an event message.
  auto events = Open(h, "/v1/events/stream?after=0");
  ASSERT_TRUE(events);
  CliRun c = h.Banger({"vm", "create", "--name", "w1"});
  ASSERT_EQ(c.code, 0) << c.err;
  auto saw_event = [&](const std::string& type, const std::string& needle) {
    auto until = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < until) {
      auto m = events->Recv(60s);
      if (!m.ok() || !m->has_value()) return false;
      if ((*m)->type() != Msg(StreamType::kEvent)) continue;
      auto j = ParseJson(std::string((*m)->payload()));
      if (j.ok() && (*j)["type"] == type && (*j)["vm_name"] == "w1" &&
          j->dump().find(needle) != std::string::npos)
        return true;
    }
    return false;
  };
  EXPECT_TRUE(saw_event("vm.created", "w1"));

  // A plain GET on a stream, and an unknown VM: plain HTTP answers.
  auto plain = UnixHttpCall(h.root() + "/bangerd.sock", HttpRequest{"GET", "/v1/vms/w1/console"},
                            std::chrono::seconds(5));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->status, 400);
  auto missing = WsDialUnix(h.root() + "/bangerd.sock", "/v1/vms/nope/console", {}, 30s);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);

  // A client that asks for a flood and never reads it...
  auto stalled = Open(h, "/v1/vms/w1/exec");
  ASSERT_TRUE(stalled);
  ASSERT_TRUE(stalled->SendText(R"({"argv":["cat","/dev/zero"]})").ok());
  auto stalled_at = std::chrono::steady_clock::now();
  // ... while another client's exec on the same daemon works.
  CliRun other = h.Banger({"vm", "exec", "w1", "--", "echo", "still-served"});
  EXPECT_EQ(other.code, 0) << other.err;
  EXPECT_EQ(other.out, "still-served\n");
  // The daemon drops it after ws_write_timeout (2s) without progress: its
  // exec sees the client gone.
  auto log = [&] {
    auto l = ReadFile(h.root() + "/bangerd.log");
    return l.ok() ? *l : std::string();
  };
  bool dropped = WaitUntil([&] { return log().find("client went away") != std::string::npos; }, 60s);
  ASSERT_TRUE(dropped) << "the stalled client was never dropped:\n" << log();
  EXPECT_GE(std::chrono::steady_clock::now() - stalled_at, 2s);
  other = h.Banger({"vm", "exec", "w1", "--", "echo", "still-served"});
  EXPECT_EQ(other.code, 0) << other.err;
  EXPECT_EQ(other.out, "still-served\n");
  // Reading now, the stalled client finds what the daemon had written, then
  // the end of a dropped connection (never an exit message).
  size_t got = 0;
  bool exit_seen = false;
  Result<std::optional<WsMessage>> m = std::optional<WsMessage>();
  auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    m = stalled->Recv(30s);
    if (!m.ok() || !m->has_value()) break;
    got += (*m)->payload().size();
    if ((*m)->type() == Msg(StreamType::kExit)) exit_seen = true;
  }
  EXPECT_FALSE(exit_seen);
  EXPECT_TRUE(!m.ok() && m.error().kind() != ErrorKind::kTimeout) << "the stalled stream did not end";
  EXPECT_GT(got, 0u);

  // The console from offset 0: the boot, followed, then the result when the VM stops.
  auto console = Open(h, "/v1/vms/w1/console?offset=0");
  ASSERT_TRUE(console);
  std::string text;
  while (text.find("Linux version") == std::string::npos) {
    auto c1 = console->Recv(60s);
    ASSERT_TRUE(c1.ok() && c1->has_value()) << "console: " << text;
    if ((*c1)->type() == Msg(StreamType::kStdout)) text += (*c1)->payload();
  }
  CliRun stop = h.Banger({"vm", "stop", "w1"});
  ASSERT_EQ(stop.code, 0) << stop.err;
  Json result;
  for (;;) {
    auto c2 = console->Recv(60s);
    ASSERT_TRUE(c2.ok() && c2->has_value()) << "the console stream ended without its result";
    if ((*c2)->type() == Msg(StreamType::kStdout)) text += (*c2)->payload();
    if ((*c2)->type() == Msg(StreamType::kResult)) {
      result = Json::parse((*c2)->payload());
      break;
    }
  }
  EXPECT_EQ(result["state"], "stopped");
  EXPECT_EQ(result["next_offset"].get<int64_t>(), static_cast<int64_t>(text.size()));
  auto end = console->Recv(30s);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_FALSE(end->has_value()) << "closed (1000) after the result";
  EXPECT_EQ(console->peer_close_code(), 1000);
  // The event stream saw the stop, live.
  EXPECT_TRUE(saw_event("vm.state", "stopped"));
  events->Close(1000);
}

}  // namespace
}  // namespace banger::e2e
